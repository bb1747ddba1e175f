/**
 * `vtep ctl capture`: the client end of a live capture. Frames arrive as
 * stream items (base64) and go into a pcapng with one interface, the port;
 * the file is flushed after each burst so that a reader on a pipe
 * (`-w - | tshark -r -`) sees packets as they come. The direction is in each
 * packet's epb_flags (inbound / outbound).
 */
import { PcapngWriter, LinkType } from '../pcap/index.js';
import type { CtlClient } from '../ops/client.js';
import type { CaptureFrame } from '../ops/protocol.js';
import { Exit } from './common.js';

/** epb_flags direction bits (pcapng spec, section 4.3.1). */
const EPB_INBOUND = 1;
const EPB_OUTBOUND = 2;

export async function captureCommand(c: CtlClient, args: Record<string, unknown>, write: string | undefined, json: boolean): Promise<number> {
  const port = String(args.port);
  const w = write === undefined ? undefined
    : write === '-' ? new PcapngWriter(process.stdout, { end: false, chunkSize: 1 << 16 })
      : new PcapngWriter(write, { chunkSize: 1 << 16 });
  const ifId = w?.addInterface({ linkType: LinkType.ETHERNET, name: port, tsresol: 9, description: 'vtep ctl capture' });
  let flushScheduled = false;
  let written = 0;
  let pipeGone = false;
  const flush = (): void => {
    flushScheduled = false;
    if (pipeGone) return;
    try {
      w?.flush();
    } catch {
      pipeGone = true;
    }
  };
  const p = c.request('capture', args, (d) => {
    if ((d as { listening?: string }).listening !== undefined) {
      const h = d as { listening: string; direction: string; snaplen: number };
      process.stderr.write(`capture: listening on ${h.listening} (${h.direction}), snaplen ${h.snaplen}; Ctrl-C stops\n`);
      return;
    }
    const f = d as CaptureFrame;
    const bytes = Buffer.from(f.data, 'base64');
    written++;
    if (w !== undefined && ifId !== undefined) {
      if (pipeGone) return;
      w.write(ifId, bytes, 0, bytes.length, f.sec, f.nsec, Math.max(f.len, bytes.length), f.dir === 'rx' ? EPB_INBOUND : EPB_OUTBOUND);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    } else if (json) {
      console.log(JSON.stringify(f));
    } else {
      console.log(frameLine(f, bytes));
    }
  });
  const stop = (): void => c.cancel(p.id);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // The reader of the pipe went away (tshark quit): stop capturing.
  const onPipeError = (): void => {
    pipeGone = true;
    stop();
  };
  if (write === '-') process.stdout.on('error', onPipeError);
  let r: { frames: number; seen: number; dropped: number };
  try {
    r = (await p) as typeof r;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (!pipeGone) await w?.close().catch(() => undefined);
    if (write === '-') process.stdout.off('error', onPipeError);
  }
  const lost = r.dropped > 0 ? `, ${r.dropped} lost (the reader was slower than the port)` : '';
  process.stderr.write(`capture: ${written} frames of ${port}${write !== undefined && write !== '-' ? ` written to ${write}` : ''}${lost}\n`);
  return Exit.OK;
}

/** One line per frame when no file is asked for: time, direction, length, MACs, EtherType. */
function frameLine(f: CaptureFrame, b: Buffer): string {
  const t = new Date(f.sec * 1000).toISOString().slice(11, 19) + '.' + String(Math.floor(f.nsec / 1000)).padStart(6, '0');
  if (b.length < 14) return `${t} ${f.dir} ${f.len} bytes`;
  const mac = (o: number): string => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  const type = b.readUInt16BE(12);
  const name = type === 0x0800 ? 'IPv4' : type === 0x86dd ? 'IPv6' : type === 0x0806 ? 'ARP' : `0x${type.toString(16).padStart(4, '0')}`;
  return `${t} ${f.dir} ${mac(6)} > ${mac(0)} ${name} ${f.len} bytes`;
}
