/**
 * The kernel's IPv4 neighbour table, read from /proc/net/arp of a namespace:
 * how `vtep run` finds each remote VTEP's MAC for an underlay TAP
 * (`underlay.tap` without `nextHopMac`). The kernel keeps the table because
 * it holds the underlay address and talks to the peers (our sockets send to
 * a remote until its MAC is known, which makes the kernel resolve it).
 *
 * The file is opened once inside the namespace (a /proc/net seq file stays
 * bound to the namespace it was opened in) and re-read from offset 0.
 *
 *   IP address       HW type     Flags       HW address            Mask     Device
 *   198.18.0.2       0x1         0x2         02:fc:18:00:00:02     *        ub0
 */
import { closeSync, readSync } from 'node:fs';
import { parseMac } from '../util/addr.js';
import { native } from './native.js';
import { netnsPath } from './port.js';

/** ATF_COM: the entry is complete (resolved). */
const ATF_COM = 0x2;

/** Complete entries of /proc/net/arp text: IPv4 address (dotted) -> MAC. */
export function parseProcNetArp(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 4) continue;
    const flags = Number.parseInt(f[2]!, 16);
    if (!Number.isFinite(flags) || (flags & ATF_COM) === 0 || f[1] !== '0x1') continue;
    let mac: number;
    try {
      mac = parseMac(f[3]!, 'mac');
    } catch {
      continue;
    }
    if (mac !== 0) out.set(f[0]!, mac);
  }
  return out;
}

export class KernelArpTable {
  private readonly buf = Buffer.alloc(1 << 16);
  private fd: number;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Opens the table of a namespace (a name under /var/run/netns; none: ours). */
  static open(netns?: string): KernelArpTable {
    // thread-self: the namespace this thread entered, whichever thread it is.
    return new KernelArpTable(native().openInNetns({ path: '/proc/thread-self/net/arp', ...(netns === undefined ? {} : { netns: netnsPath(netns) }) }));
  }

  /** The complete entries now (empty once closed). */
  read(): Map<string, number> {
    if (this.fd < 0) return new Map();
    let n = 0;
    // A table larger than the buffer is read in pieces.
    const parts: string[] = [];
    for (;;) {
      const r = readSync(this.fd, this.buf, 0, this.buf.length, n);
      if (r <= 0) break;
      parts.push(this.buf.toString('latin1', 0, r));
      n += r;
    }
    return parseProcNetArp(parts.join(''));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
