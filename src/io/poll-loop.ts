/**
 * How the ports' wake-ups meet Node's event loop.
 *
 * Every fd port is watched by libuv (a uv_poll handle per fd). A wake-up
 * that goes round the whole loop costs more than the callback: Node
 * allocates an object in every iteration's check phase (56 bytes, so a
 * scavenge every second or so at 8,000 wake-ups a second) and the loop's
 * phases pass through the caches between two packets. So after a port's
 * callback the addon lingers: it waits on libuv's own epoll set, for at most
 * `lingerMs`, and runs the callbacks of ports whose fds become ready there
 * directly. It gives the loop back as soon as libuv has anything else to do
 * (another fd ready, a timer due, a signal, setImmediate work, a handle
 * started or closed), so timers, sockets and child processes of the same
 * process are served as promptly as before. See native/poller.cc.
 *
 * Per thread (each worker has its own loop); on by default, 100 ms.
 */
import { VtepError, describe } from '../errors.js';
import { native, LOOP_STAT } from './native.js';

export interface PollLoopStats {
  /** Lingers entered (at most one per event-loop iteration). */
  lingers: number;
  /** Port callbacks run from a linger: wake-ups that cost no loop iteration. */
  callbacks: number;
  /** Lingers that gave the loop back because libuv had work: a timer due, a handle started or closing, setImmediate. */
  exitLoop: number;
  /** ... because another fd was ready (or a port's error or hang-up, for libuv to report), or a signal. */
  exitForeign: number;
  /** ... because lingerMs ran out. */
  exitTime: number;
  /** Event-loop iterations since the addon loaded. */
  iterations: number;
}

const cell = new Float64Array(LOOP_STAT.COUNT);

/** Sets how long (ms, 0 to 10,000) a port's callback may be followed by waiting for the next on this thread; 0 turns it off. */
export function setPollLinger(ms: number): void {
  if (!(Number.isInteger(ms) && ms >= 0 && ms <= 10_000)) throw new VtepError('ERR_INVALID_ARG', `lingerMs: ${describe(ms)} is not an integer from 0 to 10000`);
  native().setPollLinger(ms);
}

/** The linger counters of this thread. */
export function pollLoopStats(): PollLoopStats {
  native().pollStats(cell);
  return {
    lingers: cell[LOOP_STAT.LINGERS]!,
    callbacks: cell[LOOP_STAT.CALLBACKS]!,
    exitLoop: cell[LOOP_STAT.EXIT_LOOP]!,
    exitForeign: cell[LOOP_STAT.EXIT_FOREIGN]!,
    exitTime: cell[LOOP_STAT.EXIT_TIME]!,
    iterations: cell[LOOP_STAT.ITERATIONS]!,
  };
}
