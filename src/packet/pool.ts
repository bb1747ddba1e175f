/**
 * The packet pool: one ArrayBuffer cut into fixed-size slots. Every packet lives
 * in a slot and starts `headroom` bytes into it, so that encapsulation prepends
 * its outer headers in the same memory (start moves back) and decapsulation only
 * moves the start forward. Nothing on the hot path copies a frame.
 *
 *   slot i:  |<------ headroom ------>|<-------- frame -------->|<- tailroom ->|
 *            ^ i * slotSize           ^ dataStart(i)
 *
 * The default headroom, 130, is the 128 bytes DESIGN.md asks for plus 2, as
 * Linux's NET_IP_ALIGN: a 14-byte Ethernet header then ends 4-byte aligned, so
 * inner IP headers and every outer header we prepend (all 14 + 4k bytes long)
 * start on a 4-byte boundary and can be written as 32-bit words.
 *
 * Slots are reference counted so that one frame can be queued to several
 * transmit entries (head-end replication over UDP sockets) without a copy.
 *
 * Large slots hold what a 2 KB slot cannot: a guest's 64 KB TSO super-frame
 * read from a TAP with offloads, or a UDP GRO datagram train. They follow the
 * small slots in the same ArrayBuffer, each a run of `largeSlotSize /
 * slotSize` small-slot units, and a large slot's number is that of its first
 * unit. So `slot * slotSize` is the base of every slot, large or small, and
 * `slot * slotSize + headroom` its data start: code that only knows small
 * slots stays correct. They have a free stack of their own (allocLarge), and
 * are never handed out by alloc(); `largeSlots` defaults to 0.
 *
 *   | small 0 | small 1 | ... | small n-1 | large n ............ | large n+u ...
 */
import { VtepError, checkInt } from '../errors.js';

export interface PoolOptions {
  /** Number of slots. Default 4096. */
  slots?: number;
  /** Bytes per slot, headroom included; a multiple of 64. Default 2048. */
  slotSize?: number;
  /** Bytes before the first byte of a received frame; at least 128. Default 130. */
  headroom?: number;
  /** Number of large slots (super-frames, GRO trains). Default 0. */
  largeSlots?: number;
  /**
   * Bytes per large slot, headroom included; a multiple of slotSize. Default: the
   * least multiple that holds a 64 KiB frame plus an 802.1Q Ethernet header.
   */
  largeSlotSize?: number;
}

export const POOL_DEFAULTS = { slots: 4096, slotSize: 2048, headroom: 130, largeSlots: 0 } as const;
/** What the default large slot holds after headroom: an IP packet of 64 KiB behind Ethernet and a VLAN tag. */
export const LARGE_FRAME = 65536 + 18;
/** The least headroom a pool may have: the longest outer header set plus margin. */
export const MIN_HEADROOM = 128;

export class PacketPool {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  /** The same memory as 16- and 32-bit words (native order), for aligned header copies. */
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly view: DataView;
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  /** Bytes a received frame may occupy: slotSize - headroom. */
  readonly dataRoom: number;
  /** Number of large slots, their size and room (largeSlotSize - headroom). */
  readonly largeSlots: number;
  readonly largeSlotSize: number;
  readonly largeRoom: number;
  /** Absolute offset of the first large slot (slots * slotSize). */
  readonly largeBase: number;

  private readonly stack: Uint32Array;
  private readonly refs: Uint16Array;
  private top: number;
  private readonly lstack: Uint32Array;
  private ltop: number;

  constructor(options: PoolOptions = {}) {
    const slots = checkInt('slots', options.slots ?? POOL_DEFAULTS.slots, 1, 1 << 22);
    const slotSize = checkInt('slotSize', options.slotSize ?? POOL_DEFAULTS.slotSize, 256, 1 << 20);
    const headroom = checkInt('headroom', options.headroom ?? POOL_DEFAULTS.headroom, MIN_HEADROOM, slotSize - 64);
    if (slotSize % 64 !== 0) throw new VtepError('ERR_INVALID_ARG', `slotSize: ${slotSize} is not a multiple of 64`);
    const largeSlots = checkInt('largeSlots', options.largeSlots ?? POOL_DEFAULTS.largeSlots, 0, 1 << 16);
    const largeDefault = Math.ceil((LARGE_FRAME + headroom) / slotSize) * slotSize;
    const largeSlotSize = checkInt('largeSlotSize', options.largeSlotSize ?? largeDefault, slotSize, 1 << 24);
    if (largeSlotSize % slotSize !== 0) {
      throw new VtepError('ERR_INVALID_ARG', `largeSlotSize: ${largeSlotSize} is not a multiple of slotSize ${slotSize}`);
    }
    const units = largeSlotSize / slotSize;
    const total = slots * slotSize + largeSlots * largeSlotSize;
    if (total > 2 ** 31) {
      throw new VtepError('ERR_INVALID_ARG', `slots: ${slots} x slotSize ${slotSize} + ${largeSlots} large slots exceed 2 GiB`);
    }
    this.slots = slots;
    this.slotSize = slotSize;
    this.headroom = headroom;
    this.dataRoom = slotSize - headroom;
    this.largeSlots = largeSlots;
    this.largeSlotSize = largeSlotSize;
    this.largeRoom = largeSlotSize - headroom;
    this.largeBase = slots * slotSize;
    this.buffer = new ArrayBuffer(total);
    this.u8 = new Uint8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.view = new DataView(this.buffer);
    this.stack = new Uint32Array(slots);
    this.refs = new Uint16Array(slots + largeSlots * units);
    // Lowest slot numbers on top: fresh pools hand out memory in address order.
    for (let i = 0; i < slots; i++) this.stack[i] = slots - 1 - i;
    this.top = slots;
    this.lstack = new Uint32Array(largeSlots);
    for (let i = 0; i < largeSlots; i++) this.lstack[i] = slots + (largeSlots - 1 - i) * units;
    this.ltop = largeSlots;
  }

  /** Free (small) slots. */
  get available(): number {
    return this.top;
  }

  /** Free large slots. */
  get largeAvailable(): number {
    return this.ltop;
  }

  /** Whether `slot` is a large slot. */
  isLarge(slot: number): boolean {
    return slot >= this.slots;
  }

  /** Bytes a frame may occupy in `slot` after the headroom. */
  roomOf(slot: number): number {
    return slot < this.slots ? this.dataRoom : this.largeRoom;
  }

  /** Takes one large slot (reference count 1), or returns -1 when none is free. */
  allocLarge(): number {
    if (this.ltop === 0) return -1;
    const slot = this.lstack[--this.ltop]!;
    this.refs[slot] = 1;
    return slot;
  }

  /** Takes up to n large slots into out[0..]; returns how many it took. */
  allocLargeMany(out: Uint32Array, n: number): number {
    const take = n < this.ltop ? n : this.ltop;
    for (let i = 0; i < take; i++) {
      const slot = this.lstack[--this.ltop]!;
      this.refs[slot] = 1;
      out[i] = slot;
    }
    return take;
  }

  /** Takes one slot (reference count 1), or returns -1 when none is free. */
  alloc(): number {
    if (this.top === 0) return -1;
    const slot = this.stack[--this.top]!;
    this.refs[slot] = 1;
    return slot;
  }

  /** Takes up to n slots into out[0..]; returns how many it took. */
  allocMany(out: Uint32Array, n: number): number {
    const take = n < this.top ? n : this.top;
    const stack = this.stack;
    const refs = this.refs;
    let top = this.top;
    for (let i = 0; i < take; i++) {
      const slot = stack[--top]!;
      refs[slot] = 1;
      out[i] = slot;
    }
    this.top = top;
    return take;
  }

  /** Adds a reference to a slot in use (one more free() before it returns). */
  retain(slot: number): void {
    if (this.refs[slot] === 0) throw new VtepError('ERR_INVALID_ARG', `slot: ${slot} is not in use`);
    this.refs[slot]!++;
  }

  /** Drops one reference; the slot returns to the pool at zero. */
  free(slot: number): void {
    const r = this.refs[slot];
    if (r === undefined || r === 0) throw new VtepError('ERR_INVALID_ARG', `slot: ${slot} is not in use`);
    if (r === 1) {
      if (slot < this.slots) this.stack[this.top++] = slot;
      else this.lstack[this.ltop++] = slot;
    }
    this.refs[slot] = r - 1;
  }

  /** free() for slots[0..n). */
  freeMany(slots: Uint32Array, n: number): void {
    for (let i = 0; i < n; i++) this.free(slots[i]!);
  }

  /** References held on a slot (0 = free). */
  refCount(slot: number): number {
    return this.refs[slot] ?? 0;
  }

  /** Absolute offset of the first byte of a slot. */
  base(slot: number): number {
    return slot * this.slotSize;
  }

  /** Absolute offset where a frame received into `slot` starts. */
  dataStart(slot: number): number {
    return slot * this.slotSize + this.headroom;
  }

  /** The slot that holds absolute offset `offset`. */
  slotOf(offset: number): number {
    if (offset < this.largeBase) return (offset / this.slotSize) | 0;
    const units = this.largeSlotSize / this.slotSize;
    return this.slots + ((((offset - this.largeBase) / this.largeSlotSize) | 0) * units);
  }

  /** Bytes from `offset` to the end of its slot. */
  roomAfter(offset: number): number {
    if (offset < this.largeBase) return this.slotSize - (offset % this.slotSize);
    return this.largeSlotSize - ((offset - this.largeBase) % this.largeSlotSize);
  }

  /** Bytes from the start of its slot to `offset`: what can still be prepended. */
  roomBefore(offset: number): number {
    if (offset < this.largeBase) return offset % this.slotSize;
    return (offset - this.largeBase) % this.largeSlotSize;
  }
}
