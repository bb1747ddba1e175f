/** `vtep encap`: encapsulate every frame of a capture into one tunnel. */
import { readCapture, PcapWriter, PcapngWriter, LinkType } from '../pcap/index.js';
import { Tunnel, type TunnelOptions, type TunnelProtoName } from '../tunnel/tunnel.js';
import { encapInPlace } from '../tunnel/encap.js';
import { VtepError } from '../errors.js';
import { Exit, UsageError, parse, intOpt, strOpt, guard } from './common.js';
import { shortText } from '../errors.js';

export const ENCAP_HELP = `Usage: vtep encap --proto vxlan|gre|mplsoudp|mplsogre [--vni N | --key N | --label N]
                  --src IP --dst IP --src-mac MAC --dst-mac MAC [--ttl N] [--tos N]
                  IN.pcap -o OUT.pcap

Encapsulates every frame of IN (pcap or pcapng) and writes the whole outer
frames to OUT (pcap; pcapng when OUT ends in .pcapng), keeping timestamps.

  --proto P          vxlan (UDP 4789, RFC 7348), gre (key, RFC 2890), mplsoudp
                     (UDP 6635, RFC 7510), mplsogre (RFC 4023)
  --vni N            VXLAN network identifier, 0..16777215
  --key N            GRE key, 0..4294967295
  --label N          MPLS label, 16..1048575 (one label, bottom of stack, TTL = --ttl)
  --src, --dst IP    underlay addresses, both IPv4 or both IPv6
  --src-mac, --dst-mac MAC   outer Ethernet addresses
  --ttl N            outer TTL / hop limit, default 64
  --tos N            outer TOS / traffic class, default 0; 'inherit' copies the inner one
Also: --dst-port N, --src-port N (default: inner flow hash into 49152-65535),
  --no-df, --udp-checksum / --no-udp-checksum (default off over IPv4, on over
  IPv6), --flow-label N|hash (IPv6), --vlan N (outer 802.1Q), --entropy-label
  (MPLS), --gre-checksum, --gre-seq.
Frames of a raw-IP capture are carried as IP payloads (GRE protocol 0x0800 /
0x86dd, MPLS label bound to IP); VXLAN carries Ethernet frames only.
Exit status: 0 done, 1 unreadable input, 2 bad arguments.`;

export async function encapCommand(args: string[]): Promise<number> {
  return guard('encap', async () => {
    const { values: v, positionals } = parse('encap', args, {
      proto: { type: 'string' }, vni: { type: 'string' }, key: { type: 'string' }, label: { type: 'string' },
      src: { type: 'string' }, dst: { type: 'string' }, 'src-mac': { type: 'string' }, 'dst-mac': { type: 'string' },
      ttl: { type: 'string' }, tos: { type: 'string' }, output: { type: 'string', short: 'o' },
      'dst-port': { type: 'string' }, 'src-port': { type: 'string' }, 'no-df': { type: 'boolean' },
      'udp-checksum': { type: 'boolean' }, 'no-udp-checksum': { type: 'boolean' }, 'flow-label': { type: 'string' },
      vlan: { type: 'string' }, 'entropy-label': { type: 'boolean' }, 'gre-checksum': { type: 'boolean' }, 'gre-seq': { type: 'boolean' },
    });
    if (v.help) {
      console.log(ENCAP_HELP);
      return Exit.OK;
    }
    const proto = strOpt(v.proto);
    if (proto === undefined) throw new UsageError('vtep encap: --proto is required (vxlan, gre, mplsoudp or mplsogre)');
    if (!['vxlan', 'gre', 'mplsoudp', 'mplsogre'].includes(proto)) throw new UsageError(`vtep encap: --proto ${shortText(proto)} is not one of vxlan, gre, mplsoudp, mplsogre`);
    const idName = proto === 'vxlan' ? 'vni' : proto === 'gre' ? 'key' : 'label';
    for (const other of ['vni', 'key', 'label'].filter((n) => n !== idName)) {
      if (v[other] !== undefined) throw new UsageError(`vtep encap: --${other} does not go with --proto ${proto} (use --${idName})`);
    }
    if (v[idName] === undefined) throw new UsageError(`vtep encap: --${idName} is required with --proto ${proto}`);
    for (const req of ['src', 'dst', 'src-mac', 'dst-mac'] as const) {
      if (v[req] === undefined) throw new UsageError(`vtep encap: --${req} is required`);
    }
    const output = strOpt(v.output);
    if (positionals.length !== 1) throw new UsageError(`vtep encap: expected one input capture, got ${positionals.length}`);
    if (output === undefined) throw new UsageError('vtep encap: -o OUT.pcap is required');
    const tosText = strOpt(v.tos);
    const fl = strOpt(v['flow-label']);
    const opts: TunnelOptions = {
      proto: proto as TunnelProtoName,
      src: strOpt(v.src)!,
      dst: strOpt(v.dst)!,
      srcMac: strOpt(v['src-mac'])!,
      dstMac: strOpt(v['dst-mac'])!,
      ttl: intOpt('encap', 'ttl', v.ttl, 1, 255, 64)!,
      tos: tosText === 'inherit' ? 'inherit' : intOpt('encap', 'tos', tosText, 0, 255, 0)!,
    };
    if (idName === 'vni') opts.vni = intOpt('encap', 'vni', v.vni, 0, 0xffffff);
    if (idName === 'key') opts.key = intOpt('encap', 'key', v.key, 0, 0xffffffff);
    if (idName === 'label') opts.label = intOpt('encap', 'label', v.label, 16, 0xfffff);
    if (v['dst-port'] !== undefined) opts.dstPort = intOpt('encap', 'dst-port', v['dst-port'], 1, 65535);
    if (v['src-port'] !== undefined) opts.srcPort = intOpt('encap', 'src-port', v['src-port'], 1, 65535);
    if (v['no-df']) opts.df = false;
    if (v['udp-checksum'] && v['no-udp-checksum']) throw new UsageError('vtep encap: --udp-checksum and --no-udp-checksum contradict each other');
    if (v['udp-checksum']) opts.udpChecksum = true;
    if (v['no-udp-checksum']) opts.udpChecksum = false;
    if (fl !== undefined) opts.flowLabel = fl === 'hash' ? 'hash' : intOpt('encap', 'flow-label', fl, 0, 0xfffff);
    if (v.vlan !== undefined) opts.vlan = intOpt('encap', 'vlan', v.vlan, 1, 4094);
    if (v['entropy-label']) opts.entropyLabel = true;
    if (v['gre-checksum']) opts.greChecksum = true;
    if (v['gre-seq']) opts.greSeq = true;

    const eth = tunnel(opts); // validates every option (a usage error naming the flag)
    let ip: Tunnel | undefined;
    const pcapng = /\.pcapng$/i.test(output);
    const w = pcapng ? new PcapngWriter(output) : new PcapWriter(output, { linkType: LinkType.ETHERNET, nanos: true });
    const ifId = w instanceof PcapngWriter ? w.addInterface({ linkType: LinkType.ETHERNET, name: 'underlay', tsresol: 9 }) : 0;
    // One scratch area with headroom: each frame is copied in once, then encapsulated in place.
    const HEAD = 256;
    let scratch = new Uint8Array(HEAD + 65536);
    let n = 0;
    try {
      for await (const rec of readCapture(positionals[0]!)) {
        let t: Tunnel;
        if (rec.linkType === LinkType.ETHERNET) t = eth;
        else if (rec.linkType === LinkType.RAW || rec.linkType === LinkType.IPV4 || rec.linkType === LinkType.IPV6) {
          if (proto === 'vxlan') throw new UsageError(`vtep encap: ${positionals[0]}: record ${n} is a raw IP packet (link type ${rec.linkType}); VXLAN carries Ethernet frames`);
          t = ip ??= new Tunnel({ ...opts, payload: 'ip' });
        } else {
          throw new UsageError(`vtep encap: ${positionals[0]}: record ${n} has link type ${rec.linkType}; Ethernet (1) or raw IP (101, 228, 229) expected`);
        }
        const len = rec.caplen;
        if (HEAD + len > scratch.length) scratch = new Uint8Array(HEAD + len);
        scratch.set(rec.buf.subarray(rec.offset, rec.offset + len), HEAD);
        const start = encapInPlace(t, scratch, HEAD, len, 0);
        const outLen = HEAD + len - start;
        const orig = rec.origLen + t.hdrLen;
        const more = w instanceof PcapngWriter
          ? w.write(ifId, scratch, start, outLen, rec.tsSec, rec.tsNsec, orig)
          : w.write(scratch, start, outLen, rec.tsSec, rec.tsNsec, orig);
        if (!more) await w.drain();
        n++;
      }
    } finally {
      await w.close();
    }
    console.error(`vtep encap: wrote ${n} packet${n === 1 ? '' : 's'} to ${output}`);
    return Exit.OK;
  });
}

/** A Tunnel from the options; its errors name the flag (--src-mac), not the option (srcMac). */
function tunnel(opts: TunnelOptions): Tunnel {
  try {
    return new Tunnel(opts);
  } catch (err) {
    if (!(err instanceof VtepError)) throw err;
    const m = /^([A-Za-z]+)(: .*)$/s.exec(err.message);
    if (m === null) throw new UsageError(`vtep encap: ${err.message}`);
    throw new UsageError(`vtep encap: --${m[1]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}${m[2]}`);
  }
}
