/**
 * Stages and the graph that runs them, after FD.io VPP's node graph: a stage
 * takes a vector of packet indexes into the batch in flight, decides for each
 * packet a next stage (by a fixed, named list) or a drop reason, and counts
 * both. The graph runs stages in a fixed order, each once per pass over the
 * packets queued for it, until no stage has work (a later stage may hand a
 * packet back to an earlier one, as icmp-error does to ip-route).
 *
 * Packets that leave the batch (queued on a port, replicated, held) are
 * counted under the pseudo-next `tx` or `hold` of the stage that sent them.
 *
 * Tracing: while a batch holds traced packets, to()/drop()/sent() record a
 * step for each of them with the stage's own description of what it looked
 * at (info()); when nothing is traced this costs one boolean test per call.
 */
import { REASON_COUNT, REASON_NAMES } from '../packet/reasons.js';
import type { PacketTrace, TraceStep } from './api.js';
import type { Runtime } from './runtime.js';

/** Where a packet may leave the graph without being dropped: queued, held, taken in by the router (ARP/ND), or (icmp-error) nothing to send. */
export const PSEUDO_NEXTS: ReadonlySet<string> = new Set(['tx', 'hold', 'rate-limited', 'not-sent', 'consumed', 'split']);

export abstract class Stage {
  abstract readonly name: string;
  /** Where a packet may go from here, by name: stages, or PSEUDO_NEXTS. */
  abstract readonly nextNames: readonly string[];
  /** Drop reasons this stage can give (for documentation and tests). */
  abstract readonly reasons: readonly number[];
  /** This stage's number in the graph (its input vector is rt.vecs[index], its length rt.vn[index]). */
  index = -1;
  /** Next stages' numbers, resolved from nextNames by the graph (-1 for pseudo-nexts). */
  nextIdx = new Int32Array(0);
  /**
   * Packets this stage processed, in element 0: a Float64Array, as the other
   * counters, so that the graph's per-vector add (on stages of many maps) is
   * an element store, where a number field would box a double once past 2^31.
   */
  readonly packets = new Float64Array(1);
  readonly dropCounts = new Float64Array(REASON_COUNT);
  nextCounts = new Float64Array(0);
  /** The next stages' vector lengths before a run (see Graph.drain). */
  before = new Int32Array(0);

  constructor(protected readonly rt: Runtime) {}

  /** Processes packets vec[0 .. n). */
  abstract run(vec: Uint16Array, n: number): void;

  /** Counters of the stage's own (answers sent, checksums finished...), for stats().nodes. */
  counters(): Record<string, number> | undefined {
    return undefined;
  }

  /** What this stage looked at for packet i (called only when tracing). */
  info(_i: number): string {
    return '';
  }

  // to(), drop() and sent() are called per packet from every stage and inlined
  // there: their tracing branch is one call (traceStep), so that their bytecode
  // stays small and leaves the stage's inlining budget to its own callees.

  /** Sends packet i to next stage k. */
  protected to(k: number, i: number): void {
    // Vectors and their lengths live in the runtime, one typed array each, so
    // that this store is monomorphic whichever stage comes next.
    const rt = this.rt;
    const t = this.nextIdx[k]!;
    rt.vecs[t]![rt.vn[t]!++] = i;
    // nextCounts[k] for stage nexts is added per vector by the graph (what the target's vector grew by).
    if (rt.tracing) this.traceStep(i, k, 0, 1);
  }

  /**
   * For hot loops that append to a next stage's vector through locals
   * (`v[m++] = i`, then rt.vn[t] = m after the loop): records the step of a
   * traced packet, as to() does. Call only when rt.tracing.
   */
  protected traced(k: number, i: number): void {
    this.traceStep(i, k, 0, 1);
  }

  /** Sends all of vec[0 .. n) to next stage k at once (no tracing: callers check rt.tracing first). */
  protected toAll(k: number, vec: Uint16Array, n: number): void {
    const rt = this.rt;
    const t = this.nextIdx[k]!;
    const m = rt.vn[t]!;
    const v = rt.vecs[t]!;
    // A loop, not set(subarray()): a view per call would be garbage per vector.
    for (let j = 0; j < n; j++) v[m + j] = vec[j]!;
    rt.vn[t] = m + n;
  }

  /** Drops packet i for `reason`, counted here, on the dataplane and on the ingress port. */
  protected drop(i: number, reason: number): void {
    this.dropCounts[reason]!++;
    const rt = this.rt;
    rt.drop(i, reason);
    if (rt.tracing) this.traceStep(i, -1, reason, 1);
  }

  /** Counts packet i (or `copies` of it) as leaving by pseudo-next k ('tx', 'hold'). */
  protected sent(k: number, i: number, copies = 1): void {
    this.nextCounts[k]! += copies;
    if (this.rt.tracing) this.traceStep(i, k, 0, copies);
  }

  /** Records packet i's step (next k, or a drop for `reason` when k < 0) if it is traced. */
  private traceStep(i: number, k: number, reason: number, copies: number): void {
    if (this.rt.traceId[i] === 0) return;
    const next = k < 0 ? 'drop' : copies === 1 ? this.nextNames[k]! : `${this.nextNames[k]} x${copies}`;
    this.rt.graph.step(this, i, next, reason);
  }
}

export interface StageStats {
  packets: number;
  drops: Record<string, number>;
  next: Record<string, number>;
  /** The stage's own counters, where it has any. */
  counters?: Record<string, number>;
}

export class Graph {
  readonly stages: Stage[];
  private readonly byName = new Map<string, Stage>();
  // Tracing.
  private traceLeft = 0;
  private traceSeq = 0;
  private readonly open = new Map<number, PacketTrace>();
  private readonly waiters: { n: number; got: PacketTrace[]; resolve: (t: PacketTrace[]) => void; timer: NodeJS.Timeout | undefined }[] = [];

  constructor(private readonly rt: Runtime, stages: Stage[]) {
    this.stages = stages;
    stages.forEach((s, k) => {
      this.byName.set(s.name, s);
      s.index = k;
    });
    for (const s of stages) {
      s.nextIdx = Int32Array.from(s.nextNames, (name) => {
        if (PSEUDO_NEXTS.has(name)) return -1;
        const t = this.byName.get(name);
        if (t === undefined) throw new Error(`stage ${s.name}: next stage ${name} does not exist`);
        return t.index;
      });
      s.nextCounts = new Float64Array(s.nextNames.length);
      s.before = new Int32Array(s.nextNames.length);
    }
    rt.vn = new Int32Array(stages.length);
    rt.vecs = stages.map(() => new Uint16Array(rt.capacity));
  }

  /** Grows every stage's vector for batches of up to n packets (with the runtime's arrays). */
  grow(n: number): void {
    this.rt.grow(n);
    this.rt.vecs = this.stages.map(() => new Uint16Array(n));
  }

  /** Runs packets [0, count) of the batch in flight, all entering at `entry`. */
  run(entry: Stage): void {
    const rt = this.rt;
    const n = rt.batch.count;
    const vec = rt.vecs[entry.index]!;
    for (let i = 0; i < n; i++) vec[i] = i;
    rt.vn[entry.index] = n;
    if (this.traceLeft > 0) this.startTraces(n);
    this.drain();
    if (rt.tracing) this.endTraces();
  }

  /** Whether packets are waiting to be traced (the next batch must go through run()). */
  get traceWanted(): boolean {
    return this.traceLeft > 0;
  }

  /** Runs stages in order until none has work. */
  drain(): void {
    const stages = this.stages;
    const vn = this.rt.vn;
    const vecs = this.rt.vecs;
    let again = true;
    while (again) {
      again = false;
      for (let k = 0; k < stages.length; k++) {
        const n = vn[k]!;
        if (n === 0) continue;
        vn[k] = 0;
        const s = stages[k]!;
        s.packets[0]! += n;
        // Counting nexts per vector, not per packet: what each next stage's vector grew by.
        const ni = s.nextIdx;
        const before = s.before;
        for (let q = 0; q < ni.length; q++) if (ni[q]! >= 0) before[q] = vn[ni[q]!]!;
        s.run(vecs[k]!, n);
        const counts = s.nextCounts;
        for (let q = 0; q < ni.length; q++) if (ni[q]! >= 0) counts[q]! += vn[ni[q]!]! - before[q]!;
        again = true;
      }
    }
  }

  /** Queues packet i at a stage (for entries other than run(): held packets that expire). */
  push(s: Stage, i: number): void {
    this.rt.vecs[s.index]![this.rt.vn[s.index]!++] = i;
  }

  stats(): Record<string, StageStats> {
    const out: Record<string, StageStats> = {};
    for (const s of this.stages) {
      const drops: Record<string, number> = {};
      for (let r = 1; r < REASON_COUNT; r++) if (s.dropCounts[r] !== 0) drops[REASON_NAMES[r]!] = s.dropCounts[r]!;
      const next: Record<string, number> = {};
      s.nextNames.forEach((name, k) => {
        if (s.nextCounts[k] !== 0) next[name] = s.nextCounts[k]!;
      });
      const own = s.counters();
      out[s.name] = own === undefined ? { packets: s.packets[0]!, drops, next } : { packets: s.packets[0]!, drops, next, counters: own };
    }
    return out;
  }

  // ------------------------------------------------------------ tracing

  /** Traces the next n packets; resolves with their paths (or those done at timeoutMs). */
  trace(n: number, timeoutMs: number): Promise<PacketTrace[]> {
    this.traceLeft += n;
    return new Promise((resolve) => {
      const w = { n, got: [] as PacketTrace[], resolve, timer: undefined as NodeJS.Timeout | undefined };
      w.timer = setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) this.waiters.splice(k, 1);
        this.traceLeft = Math.max(0, this.traceLeft - (w.n - w.got.length));
        resolve(w.got);
      }, timeoutMs);
      w.timer.unref?.();
      this.waiters.push(w);
    });
  }

  /** Records a step of traced packet i. */
  step(stage: Stage, i: number, next: string, reason: number): void {
    const t = this.open.get(this.rt.traceId[i]!);
    if (t === undefined) return;
    const s: TraceStep = { stage: stage.name, next, info: stage.info(i) };
    if (reason !== 0) s.reason = REASON_NAMES[reason]!;
    t.steps.push(s);
  }

  private startTraces(n: number): void {
    const rt = this.rt;
    const k = Math.min(n, this.traceLeft);
    this.traceLeft -= k;
    rt.traceId.fill(0, 0, n);
    for (let i = 0; i < k; i++) {
      const seq = ++this.traceSeq;
      rt.traceId[i] = seq;
      this.open.set(seq, { seq, port: rt.ingress.name, time: Date.now(), len: rt.batch.len[i]!, steps: [] });
    }
    rt.tracing = k > 0;
  }

  private endTraces(): void {
    this.rt.tracing = false;
    const done = [...this.open.values()];
    this.open.clear();
    this.rt.traceId.fill(0);
    for (const t of done) {
      const w = this.waiters[0];
      if (w === undefined) break;
      w.got.push(t);
      if (w.got.length === w.n) {
        this.waiters.shift();
        if (w.timer !== undefined) clearTimeout(w.timer);
        w.resolve(w.got);
      }
    }
  }
}
