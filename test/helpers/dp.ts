/**
 * Test-only helpers for stage tests: a dataplane's ports as sinks that keep
 * what they were sent, ports that refuse (link down, tx error), frames as hex,
 * and injecting frames as if received on a port. Allocation everywhere: never
 * for hot paths.
 */
import { Dataplane, type DataplaneOptions } from '../../src/dataplane/dataplane.js';
import type { StageStats } from '../../src/dataplane/stage.js';
import { MemoryPort } from '../../src/io/memory.js';
import { Batch } from '../../src/packet/batch.js';
import { inetChecksum } from './frames.js';

/** A memory port with no peer that keeps a copy of every frame written to it. */
export class Sink extends MemoryPort {
  readonly frames: Uint8Array[] = [];
  constructor(name: string) {
    super({ name, frames: 16 });
    this.onTransmit((u8, s, l) => this.frames.push(u8.slice(s, s + l)));
  }
}

/**
 * A port that takes a virtio-net header (as a TAP opened with one): keeps each
 * frame's offload fields. `hdr` 24 with `udpTunnel`: an underlay TAP that took
 * UDP-tunnel GSO.
 */
export class VnetSink extends Sink {
  readonly offl: { gsoType: number; gsoSize: number; vflags: number; hdrLen: number; csumStart: number }[] = [];
  readonly offloads: { udpTunnel: boolean };
  constructor(name: string, readonly vnetHdrSize = 12, udpTunnel = false) {
    super(name);
    this.offloads = { udpTunnel };
  }
  override writeBatch(batch: Batch, from = 0, to = batch.count): number {
    for (let i = from; i < to; i++) {
      this.offl.push({ gsoType: batch.gsoType[i]!, gsoSize: batch.gsoSize[i]!, vflags: batch.vflags[i]!, hdrLen: batch.hdrLen[i]!, csumStart: batch.csumStart[i]! });
    }
    return super.writeBatch(batch, from, to);
  }
}

/** A port whose writes take nothing while its link is up: the dataplane counts tx-error. */
export class RefusingPort extends MemoryPort {
  constructor(name: string) {
    super({ name, frames: 16 });
  }
  override writeBatch(): number {
    return 0;
  }
}

/** A port whose link is down (a guest interface down): writes take nothing, counted link-down. */
export class DownPort extends RefusingPort {
  override get linkUp(): boolean {
    return false;
  }
}

/** Bytes from hex text; whitespace is ignored. */
export function hex(text: string): Uint8Array {
  const t = text.replace(/\s+/g, '');
  if (t.length % 2 !== 0 || /[^0-9a-f]/i.test(t)) throw new Error(`hex: not an even run of hex digits: ${t.slice(0, 20)}...`);
  return Uint8Array.from({ length: t.length / 2 }, (_, i) => parseInt(t.slice(2 * i, 2 * i + 2), 16));
}

export function toHex(u8: Uint8Array): string {
  return Buffer.from(u8).toString('hex');
}

/** Runs frames through the dataplane as one batch received on `port`. */
export function inject(dp: Dataplane, port: string, ...frames: Uint8Array[]): void {
  const b = new Batch(dp.pool, Math.max(1, frames.length));
  for (const f of frames) b.pushCopy(f);
  dp.inject(port, b);
}

/** Injects one frame that starts `headroom` bytes after its slot's first byte (less than the pool's usual headroom). */
export function injectWithHeadroom(dp: Dataplane, port: string, frame: Uint8Array, headroom: number): void {
  const pool = dp.pool;
  const slot = pool.alloc();
  if (slot < 0) throw new Error('pool empty');
  const s = pool.base(slot) + headroom;
  pool.u8.set(frame, s);
  const b = new Batch(pool, 1);
  b.push(slot, s, frame.length);
  dp.inject(port, b);
}

/** One stage's counters. */
export function node(dp: Dataplane, name: string): StageStats {
  const n = dp.stats().nodes[name];
  if (n === undefined) throw new Error(`no stage ${name}`);
  return n;
}

/** A copy of `frame` with bytes set at `at`. */
export function patch(frame: Uint8Array, at: number, bytes: number[]): Uint8Array {
  const out = Uint8Array.from(frame);
  out.set(bytes, at);
  return out;
}

/** Recomputes the IPv4 header checksum of the header at `l3` (in place); returns the frame. */
export function fixIpv4Sum(frame: Uint8Array, l3 = 14): Uint8Array {
  const hl = (frame[l3]! & 0x0f) * 4;
  frame[l3 + 10] = 0;
  frame[l3 + 11] = 0;
  const s = inetChecksum(frame, l3, hl);
  frame[l3 + 10] = s >>> 8;
  frame[l3 + 11] = s & 0xff;
  return frame;
}

/** Underlay MACs of the dataplane under test (U1) and of the next router (U2). */
export const U1 = '02:fc:18:00:00:01';
export const U2 = '02:fc:18:00:00:02';
/** Router MACs of the VRF ports vm3 and vm4. */
export const R3 = '02:76:74:00:00:03';
export const R4 = '02:76:74:00:00:04';

export interface BridgeNet {
  dp: Dataplane;
  vm1: Sink;
  vm2: Sink;
  /** The underlay port (frame mode): what it is sent is the encapsulated traffic. */
  wire: Sink;
}

/**
 * A dataplane at 198.18.0.1 (underlay in frame mode on port `wire`) with a
 * VXLAN bridge `br` (VNI 42) holding ports vm1 and vm2.
 */
export function bridgeNet(o: { arpSuppress?: boolean; flood?: string[]; learn?: boolean; dp?: DataplaneOptions; peers?: string[] } = {}): BridgeNet {
  const dp = new Dataplane({ pool: { slots: 64 }, ...o.dp });
  const wire = new Sink('wire');
  dp.setUnderlay({ address: '198.18.0.1', port: wire, mac: U1, nextHopMac: U2, ...(o.peers !== undefined ? { peers: o.peers } : {}) });
  dp.addBridge({ name: 'br', vni: 42, arpSuppress: o.arpSuppress ?? true, learn: o.learn ?? true, flood: o.flood ?? [] });
  const vm1 = new Sink('vm1');
  const vm2 = new Sink('vm2');
  dp.addBridgePort('br', vm1);
  dp.addBridgePort('br', vm2);
  return { dp, vm1, vm2, wire };
}

export interface RouterNet {
  dp: Dataplane;
  /** Gateway 10.1.0.1/24 (and 2001:db8:1::1/64), router MAC R3. */
  vm3: Sink;
  /** Gateway 10.2.0.1/24, router MAC R4. */
  vm4: Sink;
  wire: Sink;
}

/**
 * A dataplane at 198.18.0.1 (underlay in frame mode on `wire`) with a VRF
 * `red` (MPLS label 100) and two gateway ports, vm3 and vm4.
 */
export function routerNet(o: { dp?: DataplaneOptions } = {}): RouterNet {
  const dp = new Dataplane({ pool: { slots: 64 }, ...o.dp });
  const wire = new Sink('wire');
  dp.setUnderlay({ address: '198.18.0.1', port: wire, mac: U1, nextHopMac: U2 });
  dp.addVrf({ name: 'red', label: 100 });
  const vm3 = new Sink('vm3');
  const vm4 = new Sink('vm4');
  dp.addVrfPort('red', vm3, { gateway: '10.1.0.1/24', gateway6: '2001:db8:1::1/64', routerMac: R3 });
  dp.addVrfPort('red', vm4, { gateway: '10.2.0.1/24', routerMac: R4 });
  return { dp, vm3, vm4, wire };
}

/** Everything a drop is counted in: the stage, the dataplane and the port it is charged to. */
export function dropsOf(dp: Dataplane, stage: string, port: string): { stage: Record<string, number>; total: Record<string, number>; port: number } {
  const s = dp.stats();
  return { stage: s.nodes[stage]!.drops, total: s.drops, port: s.ports[port]!.drops };
}
