/** `vtep decap`: decapsulate a capture under a config; verdict per packet. */
import { readFileSync } from 'node:fs';
import { readCapture, PcapWriter, PcapngWriter, LinkType } from '../pcap/index.js';
import { Decapsulator, Inner, type DecapConfig } from '../tunnel/decap.js';
import { PROTO_NAMES } from '../tunnel/tunnel.js';
import { Reason, REASON_NAMES, reasonCountsObject } from '../packet/reasons.js';
import { toHex } from '../wire/bytes.js';
import { VtepError } from '../errors.js';
import { Exit, UsageError, InputError, parse, strOpt, guard, out } from './common.js';

export const DECAP_HELP = `Usage: vtep decap --config CONFIG.json IN.pcap [-o OUT.pcap] [--json]

Decapsulates every packet of IN (pcap or pcapng; Ethernet, raw IP or Linux
cooked link types) under CONFIG, validating every header:
  { "local": [IP...], "peers": [IP...],
    "vxlan": { "port": 4789, "vnis": [N...] }, "gre": { "keys": [N...] },
    "udp6ZeroChecksumRx": true,
    "mpls": { "udpPort": 6635, "labels": { "LABEL": "ethernet" | "ip" } } }
  --json        one line per input packet:
                {"i":0,"verdict":"deliver","proto":"vxlan","id":42,"inner":"<hex>"}
                {"i":3,"verdict":"drop","reason":"bad-checksum"}
  -o OUT        the delivered payloads. OUT.pcapng: Ethernet frames on one
                interface, IP payloads (MPLS labels bound to ip, GRE IP) on a
                raw-IP one. OUT.pcap: Ethernet link type; an IP payload gets a
                zero-MAC Ethernet header with its EtherType.
Without --json a summary of verdicts goes to standard output.
Exit status: 0 done (drops included), 1 unreadable input, 2 bad arguments or config.`;

export async function decapCommand(args: string[]): Promise<number> {
  return guard('decap', async () => {
    const { values: v, positionals } = parse('decap', args, {
      config: { type: 'string', short: 'c' }, output: { type: 'string', short: 'o' }, json: { type: 'boolean' },
    });
    if (v.help) {
      console.log(DECAP_HELP);
      return Exit.OK;
    }
    const configPath = strOpt(v.config);
    if (configPath === undefined) throw new UsageError('vtep decap: --config CONFIG.json is required');
    if (positionals.length !== 1) throw new UsageError(`vtep decap: expected one input capture, got ${positionals.length}`);
    const d = new Decapsulator(loadConfig(configPath));
    const json = v.json === true;
    const output = strOpt(v.output);
    const pcapng = output !== undefined && /\.pcapng$/i.test(output);
    const w = output === undefined ? undefined : pcapng ? new PcapngWriter(output) : new PcapWriter(output, { linkType: LinkType.ETHERNET, nanos: true });
    let ethIf = -1;
    let ipIf = -1;
    let scratch = new Uint8Array(65536 + 14);
    let i = 0;
    try {
      for await (const rec of readCapture(positionals[0]!)) {
        const u8 = rec.buf;
        const start = rec.offset;
        const len = rec.caplen;
        const r = decapRecord(d, rec.linkType, u8, start, len);
        if (r !== 0) {
          if (json) await out(`{"i":${i},"verdict":"drop","reason":"${REASON_NAMES[r]}"}`);
        } else {
          if (json) await out(`{"i":${i},"verdict":"deliver","proto":"${PROTO_NAMES[d.proto]}","id":${d.id},"inner":"${toHex(u8, d.innerStart, d.innerLen)}"}`);
          if (w !== undefined) {
            let more: boolean;
            if (w instanceof PcapngWriter) {
              const ip = d.inner !== Inner.ETHERNET;
              if (ip && ipIf < 0) ipIf = w.addInterface({ linkType: LinkType.RAW, name: 'overlay-ip', tsresol: 9 });
              if (!ip && ethIf < 0) ethIf = w.addInterface({ linkType: LinkType.ETHERNET, name: 'overlay', tsresol: 9 });
              more = w.write(ip ? ipIf : ethIf, u8, d.innerStart, d.innerLen, rec.tsSec, rec.tsNsec);
            } else if (d.inner === Inner.ETHERNET) {
              more = w.write(u8, d.innerStart, d.innerLen, rec.tsSec, rec.tsNsec);
            } else {
              // pcap has one link type: give the IP payload a zero-MAC Ethernet header.
              if (scratch.length < d.innerLen + 14) scratch = new Uint8Array(d.innerLen + 14);
              scratch.fill(0, 0, 12);
              scratch[12] = d.inner === Inner.IPV4 ? 0x08 : 0x86;
              scratch[13] = d.inner === Inner.IPV4 ? 0x00 : 0xdd;
              scratch.set(u8.subarray(d.innerStart, d.innerStart + d.innerLen), 14);
              more = w.write(scratch, 0, d.innerLen + 14, rec.tsSec, rec.tsNsec);
            }
            if (!more) await w.drain();
          }
        }
        i++;
      }
    } finally {
      await w?.close();
    }
    if (!json) {
      const delivered = d.counters[0]!;
      await out(`${i} packets: ${delivered} delivered, ${i - delivered} dropped`);
      for (const [name, n] of Object.entries(reasonCountsObject(d.counters))) await out(`  ${name}: ${n}`);
    }
    return Exit.OK;
  });
}

/** Decapsulates one record by its link type. */
function decapRecord(d: Decapsulator, linkType: number, u8: Uint8Array, start: number, len: number): number {
  switch (linkType) {
    case LinkType.ETHERNET:
      return d.frame(u8, start, len);
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return d.ip(u8, start, len);
    case LinkType.LINUX_SLL: // 16-byte header, protocol at 14
      return len < 16 ? Reason.truncated : d.ip(u8, start + 16, len - 16);
    case LinkType.LINUX_SLL2: // 20-byte header, protocol at 0
      return len < 20 ? Reason.truncated : d.ip(u8, start + 20, len - 20);
    case LinkType.NULL:
    case LinkType.LOOP: // 4-byte address family
      return len < 4 ? Reason.truncated : d.ip(u8, start + 4, len - 4);
    default:
      return Reason.unsupported;
  }
}

function loadConfig(path: string): DecapConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(`vtep decap: --config ${path}: ${e.code ?? e.message}${e.code === 'ENOENT' ? ' (no such file)' : e.code === 'EACCES' ? ' (permission denied)' : ''}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`vtep decap: ${path}: not JSON: ${(err as Error).message}`);
  }
  // A fixture file ({ config, cases }) is accepted as well as a bare config.
  const c = json !== null && typeof json === 'object' && 'config' in json && !('local' in json) ? (json as { config: unknown }).config : json;
  try {
    const test = new Decapsulator();
    test.configure(c as DecapConfig);
  } catch (err) {
    if (err instanceof VtepError) throw new UsageError(`vtep decap: ${path}: ${err.message}`);
    throw err;
  }
  return c as DecapConfig;
}
