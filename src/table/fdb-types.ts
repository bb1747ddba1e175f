/**
 * The FDB's vocabulary (fdb.ts has the table): how a value encodes a local
 * port or a remote VTEP, the learning statuses, options, events, entries and
 * counters.
 */
import { checkInt } from '../errors.js';

/** Value bit that marks a remote VTEP index (the rest is a local port id). */
export const FDB_REMOTE = 0x40000000;

export const FdbValue = {
  port(id: number): number {
    return checkInt('port', id, 0, FDB_REMOTE - 1);
  },
  remote(index: number): number {
    return (FDB_REMOTE | checkInt('remote', index, 0, FDB_REMOTE - 1)) >>> 0;
  },
  isRemote(value: number): boolean {
    return value >= 0 && (value & FDB_REMOTE) !== 0;
  },
  /** The port id or remote index in a value. */
  id(value: number): number {
    return value & (FDB_REMOTE - 1);
  },
} as const;

/** What learn() did. */
export const Learn = {
  /** A new entry. */
  NEW: 0,
  /** Known at the same place: last-seen time updated. */
  REFRESHED: 1,
  /** Known at another place: moved here. */
  MOVED: 2,
  /** Not learned: the domain's or the overall limit of learned entries is reached. */
  LIMIT: 3,
  /** Not learned: a static entry holds the MAC at another place. */
  STATIC_CONFLICT: 4,
  /** Not learned: group or zero MAC, bridge domain out of range, or a negative value. */
  INVALID: 5,
} as const;
export type LearnStatus = (typeof Learn)[keyof typeof Learn];

/** Largest bridge domain id (0xffff is reserved for empty slots). */
export const MAX_BD = 0xfffe;

export interface FdbOptions {
  /** Entries to make room for up front. Default 1024; the table grows as needed. */
  capacity?: number;
  /** Learned entries over all domains at most. Default 1,048,576. */
  maxLearned?: number;
  /** Learned entries per domain at most (setLimit() changes one domain). Default: no limit of its own. */
  bdLimit?: number;
  /** A learned entry not seen for this long (ms) goes at the next age(). Default 300,000 (Linux's 300 s). */
  ageMs?: number;
  /** Clock in milliseconds, used when learn() or age() get no `now`. Default performance.now. */
  clock?: () => number;
  /**
   * The clock's reading in element 0, kept current by the owner (a dataplane
   * writes it once per batch): learn() without `now` takes it instead of
   * calling `clock`, whose number would be garbage on every call.
   */
  time?: Float64Array;
  /** Hash seed (32 bits). Default random per table. */
  seed?: number;
}

export interface FdbEvents {
  learned: [bd: number, mac: number, value: number];
  moved: [bd: number, mac: number, from: number, to: number];
  aged: [bd: number, mac: number, value: number];
  /** Learning refused for the first time since the count was last below the limit. */
  limit: [bd: number, scope: 'bd' | 'total', limit: number];
}

export interface FdbEntry {
  bd: number;
  mac: number;
  /** "02:00:00:00:00:01" */
  macText: string;
  value: number;
  static: boolean;
  /** Last-seen time (ms, the FDB's clock) for learned entries. */
  lastSeen: number;
}

export interface FdbCounters {
  learned: number;
  refreshed: number;
  moved: number;
  /** Learning refused at a limit. */
  limit: number;
  staticConflict: number;
  invalid: number;
  aged: number;
}
