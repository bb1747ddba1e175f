/**
 * Busy-poll (the Dataplane option busyPollUs, `"busyPollUs"` in a vSwitch
 * config, `vtep run --busy-poll`): after a wake-up that found packets, keep
 * reading every port until none had anything for the budget, instead of
 * sleeping in epoll, so that the next packet needs no wake-up (the kernel's
 * busy_poll, DPDK's interrupt mode). The spin runs in slices and yields to
 * the event loop between them, so that timers, the control socket and
 * metrics keep running. A spinner that the scheduler preempts gets no
 * wake-up boost when a packet comes, where a sleeper would be woken at once:
 * on a machine with no core to spare, busy-poll backs off for a while
 * (measured in docs/dataplane.md, "Latency and busy-poll"). The back-off
 * starts short and doubles while preemptions keep coming, up to a second: a
 * stray preemption on a machine with a core to spare costs 50 ms of spinning,
 * a machine with none settles at one spin attempt a second.
 */

/** The longest a spin runs before it yields to the event loop, in microseconds. */
export const BUSY_SLICE_US = 200;
/** A pass that read nothing yet took longer than this (ms): the process was preempted. */
export const BUSY_PREEMPTED_MS = 0.5;
/** How long busy-poll stays off after a first preemption (ms)... */
export const BUSY_BACKOFF_MIN_MS = 50;
/** ...doubled for each one that comes within BUSY_BACKOFF_MAX_MS of the last back-off's end, up to this (ms). */
export const BUSY_BACKOFF_MAX_MS = 1000;

/** Layout of BusyPoll.ctr (Float64Array: counters that may pass 2^31 stay doubles, no map change). */
export const BusyCtr = {
  /** Slices run (each ends in a yield to the event loop). */
  SLICES: 0,
  /** Passes over the ports inside slices. */
  PASSES: 1,
  /** Packets those passes read: each one a wake-up saved. */
  PACKETS: 2,
  /** Spins ended because a pass was preempted (then off for a back-off: BUSY_BACKOFF_MIN_MS..MAX_MS). */
  BACKOFFS: 3,
  /** Milliseconds spent in slices. */
  SPIN_MS: 4,
  COUNT: 5,
} as const;

/** What stats() reports of busy-poll (`busyPoll`, when it is on). */
export interface BusyPollStats {
  budgetUs: number;
  slices: number;
  passes: number;
  packets: number;
  backoffs: number;
  spinSeconds: number;
  /** Off until a back-off ends (ms left; 0 when not backing off). */
  backoffMsLeft: number;
}

/** performance.now() into cell[0]: the fallback clock (a heap number per read). */
function perfClock(cell: Float64Array): void {
  cell[0] = performance.now();
}

export class BusyPoll {
  /** The clock (ms) of the last packet read; the spin ends `budgetMs` after it. */
  private lastRx = 0;
  /** A slice is scheduled or running. */
  spinning = false;
  /** No spin before this time (the clock's ms): the last one was preempted. */
  backoffUntil = 0;
  /** The last back-off's length (ms): the next one doubles it if it comes soon after this one's end. */
  private backoffMs = 0;
  /** The clock's reading (cell[0]); cell[1] = 0 for the addon's monoClock. */
  private readonly cell = new Float64Array(2);
  /** Counters (layout BusyCtr); stats() reports them. */
  private readonly ctr = new Float64Array(BusyCtr.COUNT);

  /**
   * `pass` reads every port once and returns the packets read; `running`
   * says whether the dataplane still serves its ports. `clock` writes the
   * time in ms into cell[0]: the addon's monoClock reads it without garbage,
   * where performance.now() leaves a heap number per pass of the spin.
   */
  constructor(
    private readonly budgetMs: number,
    private readonly pass: () => number,
    private readonly running: () => boolean,
    private readonly clock: (cell: Float64Array) => void = perfClock,
  ) {}

  /** Traffic came: (re)start the window. */
  kick(): void {
    this.clock(this.cell);
    const now = this.cell[0]!;
    this.lastRx = now;
    if (this.spinning || now < this.backoffUntil || !this.running()) return;
    this.spinning = true;
    setImmediate(this.slice);
  }

  /** One slice: passes until the window closes or BUSY_SLICE_US passed, then yield and come back. */
  private readonly slice = (): void => {
    const cell = this.cell;
    const ctr = this.ctr;
    this.clock(cell);
    const start = cell[0]!;
    let prev = start;
    const end = prev + BUSY_SLICE_US / 1000;
    let now = prev;
    ctr[BusyCtr.SLICES]! += 1;
    for (;;) {
      const n = this.running() ? this.pass() : 0;
      this.clock(cell);
      now = cell[0]!;
      ctr[BusyCtr.PASSES]! += 1;
      if (n > 0) {
        this.lastRx = now;
        ctr[BusyCtr.PACKETS]! += n;
      } else if (now - prev > BUSY_PREEMPTED_MS) {
        const again = this.backoffMs > 0 && now - this.backoffUntil < BUSY_BACKOFF_MAX_MS;
        this.backoffMs = again ? Math.min(BUSY_BACKOFF_MAX_MS, this.backoffMs * 2) : BUSY_BACKOFF_MIN_MS;
        this.backoffUntil = now + this.backoffMs;
        this.spinning = false;
        ctr[BusyCtr.BACKOFFS]! += 1;
        ctr[BusyCtr.SPIN_MS]! += now - start;
        return;
      }
      prev = now;
      if (!this.running() || now - this.lastRx >= this.budgetMs || now >= end) break;
    }
    ctr[BusyCtr.SPIN_MS]! += now - start;
    if (this.running() && now - this.lastRx < this.budgetMs) setImmediate(this.slice);
    else this.spinning = false;
  };

  /** The counters, and how long a back-off still keeps busy-poll off. */
  stats(): BusyPollStats {
    const c = this.ctr;
    this.clock(this.cell);
    return {
      budgetUs: Math.round(this.budgetMs * 1000),
      slices: c[BusyCtr.SLICES]!,
      passes: c[BusyCtr.PASSES]!,
      packets: c[BusyCtr.PACKETS]!,
      backoffs: c[BusyCtr.BACKOFFS]!,
      spinSeconds: c[BusyCtr.SPIN_MS]! / 1000,
      backoffMsLeft: Math.max(0, this.backoffUntil - this.cell[0]!),
    };
  }
}
