/**
 * EtcdControl: joins this host's dataplane to a fleet through etcd v3.
 *
 *   const control = new EtcdControl(dp, { host: 'h1', underlay: '198.18.0.1', etcd: { endpoints: [...] } });
 *   await control.start();   // publish this host, read the fleet, program the dataplane, watch
 *   ...
 *   await control.stop();    // revoke the lease: this host leaves every other host's tables
 *
 * Failure behaviour: the dataplane is only ever changed by what the store
 * says, never because etcd went away, so forwarding goes on with the last
 * state while etcd is down. The watch resumes from the last revision seen; if
 * that revision was compacted, a resync reads the whole prefix at one
 * revision and applies only the differences. A lost lease is replaced and
 * every key of this host written again.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { debuglog } from 'node:util';
import { Etcd3, isRecoverableError, type IKeyValue, type IRequestOp, type Watcher } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen } from 'cockatiel';
import type { DataplaneApi } from '../dataplane/api.js';
import { parseKey, parseRecord, Keys } from './model.js';
import { Programmer, type ReconcileReport } from './program.js';
import { LocalState } from './local.js';
import type { ControlConfig, EtcdOptions } from './options.js';

const debug = debuglog('vtep:control');

/** etcd's default --max-txn-ops. */
const TXN_OPS = 128;

export interface EtcdControlOptions {
  /** This host's name in the store; default the underlay address. */
  host?: string;
  /** This host's underlay (VTEP) address: where the others send its tunnels. */
  underlay: string;
  etcd: Partial<EtcdOptions> & { endpoints: string[] };
  /** Seconds between reconciliation passes; 0 = none. Default 60. */
  reconcileSeconds?: number;
  /** Publication tick in ms: changes within one tick go in one transaction. Default 20. */
  flushMs?: number;
  /** Called with each line worth an operator's attention (bad records, lost lease, errors). */
  log?: (line: string) => void;
}

export interface ControlStatus {
  host: string;
  /** The watch stream is up. */
  connected: boolean;
  /** Last store revision applied. */
  revision: number;
  /** Records in the mirror of the store. */
  hosts: number;
  macs: number;
  routes: number;
  /** Local changes waiting to be written. */
  pending: number;
  /** Records skipped as invalid, since start. */
  badRecords: number;
  resyncs: number;
  leasesLost: number;
  writes: number;
}

interface Events {
  /** The dataplane was programmed up to this store revision. */
  synced: [revision: number];
  /** A record in the store was invalid and skipped. */
  'bad-record': [{ key: string; error: string }];
  'lease-lost': [];
}

export class EtcdControl extends EventEmitter<Events> {
  readonly host: string;
  private readonly root: string;
  private readonly opts: EtcdOptions;
  private readonly client: Etcd3;
  private readonly programmer: Programmer;
  private readonly local: LocalState;
  private readonly log: (line: string) => void;
  /** Mirror bookkeeping: store key -> (host, internal id, mod revision). */
  private readonly mirror = new Map<string, { host: string; id: string; rev: number }>();
  /** Local changes not yet written (null = delete), and what the store has from us. */
  private readonly pending = new Map<string, string | null>();
  private readonly written = new Map<string, string>();
  private leaseId = '';
  private leasing = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private watcher: Watcher | undefined;
  private revision = 0;
  private connected = false;
  private running = false;
  private flushing = false;
  private resyncing: Promise<void> | undefined;
  private tokens: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private readonly counters = { badRecords: 0, resyncs: 0, leasesLost: 0, writes: 0 };

  constructor(
    dp: DataplaneApi,
    private readonly options: EtcdControlOptions,
  ) {
    super();
    this.host = options.host ?? options.underlay;
    this.opts = { prefix: '/vtep/', leaseTtl: 10, maxWritesPerSecond: 1000, ...options.etcd };
    this.root = Keys.root(this.opts.prefix);
    this.log = options.log ?? ((line) => console.error(line));
    this.tokens = this.opts.maxWritesPerSecond;
    const o = this.opts;
    const tls = o.ca !== undefined || o.cert !== undefined;
    this.client = new Etcd3({
      hosts: o.endpoints,
      dialTimeout: 3000,
      ...(tls
        ? {
            credentials: {
              rootCertificate: readFileSync(o.ca ?? '/etc/ssl/certs/ca-certificates.crt'),
              ...(o.cert !== undefined ? { certChain: readFileSync(o.cert), privateKey: readFileSync(o.key!) } : {}),
            },
          }
        : {}),
      ...(o.username !== undefined ? { auth: { username: o.username, password: o.password! } } : {}),
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }),
      faultHandling: {
        // Try a member again after 1 s instead of 5, and watches come back within 2 s of etcd.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
      },
    });
    this.programmer = new Programmer(dp, this.host, (l) => this.log(l), (bk, mac) => this.local.withdrawMac(bk, mac), (bk, mac) => this.local.hasMac(bk, mac));
    this.local = new LocalState(dp, this.root, this.host, options.underlay, (key, value) => this.enqueue(key, value));
  }

  /** Publishes this host, reads and programs the fleet, then follows it. Rejects (and closes) when etcd cannot be reached. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.local.start();
    try {
      await this.newLease();
      this.leaseTimer = setInterval(() => void this.keepalive(), (this.opts.leaseTtl * 1000) / 3);
      await this.resync();
      await this.flushWrites();
    } catch (err) {
      // A failed start leaves this instance closed and the dataplane as it found it; make a new one to try again.
      this.programmer.withdrawAll();
      await this.stop();
      throw err;
    }
    this.flushTimer = setInterval(() => void this.tick(), this.options.flushMs ?? 20);
    const every = this.options.reconcileSeconds ?? 60;
    if (every > 0) this.reconcileTimer = setInterval(() => void this.verify(), every * 1000);
  }

  /** Leaves the fleet: revokes the lease (every key of this host goes) and closes the client. Dataplane entries stay. */
  async stop(options: { revoke?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.flushTimer);
    clearInterval(this.reconcileTimer);
    clearInterval(this.leaseTimer);
    clearTimeout(this.rewatchTimer);
    this.local.stop();
    if (this.watcher !== undefined) await cancelWatch(this.watcher);
    if (options.revoke !== false && this.leaseId !== '') await this.client.leaseClient.leaseRevoke({ ID: this.leaseId }).catch(() => undefined);
    this.client.close();
  }

  status(): ControlStatus {
    return { host: this.host, connected: this.connected, revision: this.revision, ...this.programmer.size, pending: this.pending.size, ...this.counters };
  }

  /** Compares the dataplane with the store's content (as last read) and fixes any difference. */
  reconcile(): ReconcileReport {
    const r = this.programmer.reconcile();
    if (r.diffs.length > 0) this.log(`control: reconcile fixed ${r.diffs.length} entries: ${r.diffs.slice(0, 5).join('; ')}`);
    return r;
  }

  /** The store against the mirror (a resync: differences only), then the mirror against the dataplane. */
  async verify(): Promise<ReconcileReport> {
    await this.resync();
    return this.reconcile();
  }

  // Publishing.

  private enqueue(key: string, value: string | null): void {
    if (value === null ? !this.written.has(key) : this.written.get(key) === value) this.pending.delete(key);
    else this.pending.set(key, value);
  }

  /**
   * The lease is kept here rather than by the client's Lease helper, which
   * gives a lease up after two TTLs without an answer: a lease is lost only
   * when etcd says so (a keepalive answered with TTL 0, or a write refused for
   * an unknown lease). While etcd is unreachable the lease is kept, and etcd,
   * when it comes back, extends the leases it restores.
   */
  private async newLease(): Promise<void> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: this.opts.leaseTtl });
    this.leaseId = String(res.ID);
    debug('%s: lease %s', this.host, this.leaseId);
  }

  private leaseLost(why: string): void {
    if (this.leaseId === '') return;
    this.counters.leasesLost++;
    this.log(`control: lease ${this.leaseId} lost (${why}); publishing this host again`);
    this.leaseId = '';
    this.emit('lease-lost');
    // Everything written hung on the old lease: write it all again on a new one.
    for (const [k, v] of this.written) if (!this.pending.has(k)) this.pending.set(k, v);
    this.written.clear();
  }

  /** Every TTL/3: keep the lease alive, or get a new one. */
  private async keepalive(): Promise<void> {
    if (this.leasing || !this.running) return;
    this.leasing = true;
    try {
      if (this.leaseId === '') {
        await this.newLease();
        return;
      }
      const id = this.leaseId;
      const stream = await this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + (this.opts.leaseTtl * 1000) / 3 });
      const ttl = await new Promise<number>((resolve, reject) => {
        stream.on('data', (r) => resolve(Number(r.TTL)));
        stream.on('error', reject);
        stream.write({ ID: id });
      }).finally(() => stream.end());
      if (ttl <= 0 && id === this.leaseId) this.leaseLost('expired');
    } catch (err) {
      debug('%s: keepalive failed: %s', this.host, (err as Error).message);
    } finally {
      this.leasing = false;
    }
  }

  private async tick(): Promise<void> {
    this.tokens = Math.min(this.opts.maxWritesPerSecond, this.tokens + (this.opts.maxWritesPerSecond * (this.options.flushMs ?? 20)) / 1000);
    await this.flushWrites().catch((err: Error) => debug('write failed: %s', err.message));
  }

  /** Writes pending changes within the rate limit, TXN_OPS keys per transaction. */
  private async flushWrites(): Promise<void> {
    if (this.flushing || this.leaseId === '' || this.pending.size === 0) return;
    this.flushing = true;
    try {
      while (this.pending.size > 0 && this.tokens >= 1 && this.leaseId !== '') {
        const n = Math.min(TXN_OPS, Math.floor(this.tokens), this.pending.size);
        const batch: [string, string | null][] = [];
        for (const e of this.pending) {
          batch.push(e);
          if (batch.length === n) break;
        }
        const lease = this.leaseId;
        const ops: IRequestOp[] = batch.map(([key, value]) =>
          value === null ? { request_delete_range: { key: Buffer.from(key) } } : { request_put: { key: Buffer.from(key), value: Buffer.from(value), lease } },
        );
        try {
          await this.client.kv.txn({ success: ops });
        } catch (err) {
          if (/lease not found/i.test((err as Error).message) && lease === this.leaseId) this.leaseLost('etcd does not know it');
          throw err;
        }
        this.tokens -= n;
        this.counters.writes += n;
        for (const [key, value] of batch) {
          // A newer change of the same key may have arrived meanwhile: keep it pending.
          if (this.pending.get(key) === value) this.pending.delete(key);
          if (value === null) this.written.delete(key);
          else this.written.set(key, value);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  // Following the store.

  /** Reads the whole prefix at one revision and applies the differences with the mirror. */
  resync(): Promise<void> {
    this.resyncing ??= this.doResync().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async doResync(): Promise<void> {
    this.counters.resyncs++;
    const old = this.watcher;
    this.watcher = undefined;
    if (old !== undefined) await cancelWatch(old);
    const end = Buffer.from(this.root);
    end[end.length - 1]!++;
    let rev: string | undefined;
    let from = Buffer.from(this.root);
    const seen = new Set<string>();
    for (;;) {
      const res = await this.client.kv.range({ key: from, range_end: end, limit: 5000, ...(rev !== undefined ? { revision: rev } : {}) });
      rev ??= res.header.revision;
      for (const kv of res.kvs) {
        seen.add(kv.key.toString());
        this.applyPut(kv);
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || last === undefined) break;
      from = Buffer.concat([last.key, Buffer.of(0)]);
    }
    for (const key of [...this.mirror.keys()]) if (!seen.has(key)) this.applyDelete(key);
    this.revision = Number(rev);
    this.programmer.flush();
    this.emit('synced', this.revision);
    await this.watch();
  }

  /**
   * Watches the prefix from the revision after the last one applied. The
   * client's own reconnection is not used: it resumes from the revision of
   * its last *connection* rather than of the last event, and can skip events
   * when a stream breaks between the two. Instead a broken stream is dropped
   * and a new watch starts from this.revision + 1, which etcd either replays
   * or refuses as compacted (then a resync).
   */
  private watch(): Promise<void> {
    const w = this.client.watch().prefix(this.root).startRevision(String(this.revision + 1)).watcher();
    this.watcher = w;
    w.on('data', (res) => {
      if (w !== this.watcher) return;
      let rev = 0;
      for (const ev of res.events) {
        if (ev.type === 'Put') this.applyPut(ev.kv);
        else this.applyDelete(ev.kv.key.toString());
        rev = Math.max(rev, Number(ev.kv.mod_revision));
      }
      // A response without events (progress) speaks for the whole store; one with events for them only.
      this.revision = Math.max(this.revision, res.events.length > 0 ? rev : Number(res.header.revision));
      this.programmer.flush();
      this.emit('synced', this.revision);
    });
    w.on('connected', () => {
      if (w !== this.watcher) return;
      debug('%s: watching from %d', this.host, this.revision + 1);
      this.connected = true;
    });
    w.on('disconnected', (err) => {
      if (w !== this.watcher) return;
      debug('%s: watch disconnected: %s', this.host, err.message);
      this.connected = false;
      this.watcher = undefined;
      void cancelWatch(w);
      this.rewatchSoon();
    });
    w.on('error', (err) => {
      // Canceled by etcd, e.g. our revision was compacted: read everything again.
      if (w !== this.watcher || !this.running) return;
      this.log(`control: watch ended (${err.message}); resyncing`);
      this.connected = false;
      this.watcher = undefined; // already gone: cancelling it would wait forever
      this.resyncUntilDone();
    });
    return new Promise<void>((resolve, reject) => {
      w.once('connected', () => resolve());
      w.once('error', reject);
      w.once('disconnected', reject);
    });
  }

  /**
   * After a broken stream: a resync, not a bare resume. Watching on from the
   * last revision would be enough, except that etcd drops the tombstones of
   * deletions at the revision it compacted to and still accepts a watch from
   * that revision: those deletions would never be seen. The resync reads the
   * store at one revision, applies only the differences, and watches on.
   */
  private rewatchSoon(): void {
    if (this.rewatchTimer !== undefined || !this.running) return;
    this.rewatchTimer = setTimeout(() => {
      this.rewatchTimer = undefined;
      if (!this.running || this.watcher !== undefined || this.resyncing !== undefined) return;
      this.resyncUntilDone();
    }, 250);
  }

  private resyncUntilDone(): void {
    if (!this.running) return;
    this.resync().catch((err: Error) => {
      debug('resync failed: %s', err.message);
      setTimeout(() => this.resyncUntilDone(), 1000);
    });
  }

  private applyPut(kv: IKeyValue): void {
    const key = kv.key.toString();
    const rev = Number(kv.mod_revision);
    const old = this.mirror.get(key);
    if (old !== undefined && old.rev === rev) return;
    let p = parseRecord(this.root, key, kv.value.toString());
    // Another host claiming this host's underlay would have it flood to itself.
    if (!('error' in p) && p.kind === 'host' && p.host !== this.host && p.rec.underlay === this.options.underlay) {
      p = { error: `underlay: ${JSON.stringify(p.rec.underlay)} is this host's own (${this.host})` };
    }
    if ('error' in p) {
      if (parseKey(this.root, key) === undefined && !key.startsWith(`${this.root}hosts/`)) return; // another version's key or a neighbour's: not ours to judge
      this.counters.badRecords++;
      this.log(`control: skipped ${key}: ${p.error}`);
      this.emit('bad-record', { key, error: p.error });
      if (old !== undefined) this.applyDelete(key); // the valid record it replaced is gone
      return;
    }
    const id = this.programmer.idFor(p);
    this.mirror.set(key, { host: p.host, id, rev });
    this.programmer.put(p, rev);
  }

  private applyDelete(key: string): void {
    const old = this.mirror.get(key);
    if (old === undefined) return;
    this.mirror.delete(key);
    this.programmer.delete(old.host, old.id);
  }
}

/** Cancels a watch, giving up after a second (the client waits for an answer that may never come). */
function cancelWatch(w: Watcher): Promise<void> {
  return Promise.race([w.cancel().catch(() => undefined), new Promise<void>((r) => setTimeout(r, 1000).unref())]);
}

/** True when `x` has the DataplaneApi methods the control plane calls (a run-time check for `vtep run`). */
export function isDataplaneApi(x: unknown): x is DataplaneApi {
  const o = x as Record<string, unknown>;
  const need = ['addFdb', 'removeFdb', 'addFlood', 'removeFlood', 'addArp', 'removeArp', 'addRoute', 'deleteRoute', 'listBridges', 'listVrfs', 'fdbEntries', 'arpEntries', 'neighbors', 'routes', 'on', 'off'];
  return o !== null && typeof o === 'object' && need.every((m) => typeof o[m] === 'function');
}

/** Starts the control plane a vSwitch config's `control` section describes. */
export async function startControl(dp: DataplaneApi, config: ControlConfig, underlay: string, log?: (line: string) => void): Promise<EtcdControl> {
  const c = new EtcdControl(dp, {
    ...(config.host !== undefined ? { host: config.host } : {}),
    underlay,
    etcd: config.etcd,
    reconcileSeconds: config.reconcileSeconds,
    ...(log !== undefined ? { log } : {}),
  });
  await c.start();
  return c;
}
