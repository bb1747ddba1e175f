/**
 * A dataplane from a vSwitch config (`vtep run --config`): the one place that
 * opens TAP devices and underlay sockets. Everything else goes through the
 * dataplane's public API, so that the config and the API refuse the same
 * things; an API refusal is reported as ERR_INVALID_CONFIG under the config
 * path of the entry that caused it (`vrfs[1].label: ...`).
 *
 * Only the sockets the config needs are opened: UDP 4789 when anything uses
 * VXLAN, UDP 6635 when anything uses MPLS-over-UDP (or a VRF has a label),
 * a raw IP socket when anything uses GRE or MPLS-over-GRE.
 */
import { VtepError } from '../errors.js';
import { formatIp } from '../util/addr.js';
import { IpProto } from '../wire/ip.js';
import { TapDevice } from '../io/tap.js';
import { KernelArpTable } from '../io/kernel-arp.js';
import { UdpSocket } from '../io/udp.js';
import { RawIpSocket } from '../io/raw.js';
import { Dataplane, type DataplaneOptions, type UnderlayOptions } from './dataplane.js';
import { parseVswitchConfig, isVswitchConfig, type VswitchConfig, type TapConfig } from './config.js';
import type { BridgeOptions, RouteNextHop, VrfPortOptions } from './api.js';
import type { VswitchConfigInput } from './config-types.js';

/**
 * Builds a dataplane from a config (raw JSON or parsed). If anything fails,
 * whatever was opened is closed again and the error is thrown
 * (ERR_INVALID_CONFIG for the config, ERR_NATIVE for the system).
 */
export function fromConfig(input: VswitchConfigInput | VswitchConfig, options: DataplaneOptions = {}): Dataplane {
  const c: VswitchConfig = isVswitchConfig(input) ? input : parseVswitchConfig(input);
  // Large slots take what the underlay sockets receive coalesced (UDP GRO) or as one
  // tunnel super-packet (a kernel VTEP's TSO crossing a veth arrives so).
  const dp = new Dataplane({ ...options, pool: { largeSlots: 128, ...options.pool }, macLimit: c.macLimit, ageSeconds: c.ageSeconds, busyPollUs: options.busyPollUs ?? c.busyPollUs });
  try {
    const u = c.underlay;
    const uo: UnderlayOptions = { address: u.address, vxlanPort: u.vxlanPort, mplsPort: u.mplsPort, udp6ZeroChecksumRx: u.udp6ZeroChecksumRx, ttl: u.ttl, mtu: u.mtu };
    if (u.peers !== undefined) uo.peers = u.peers;
    if (u.tap !== undefined) {
      // Sending as frames through a TAP: a 24-byte virtio-net header for UDP-tunnel GSO (see gso-segment).
      uo.port = TapDevice.open({ name: u.tap.name, up: true, persist: false, vnetHdr: true, vnetHdrSize: 24, offloads: true, ...(u.netns === undefined ? {} : { netns: u.netns }) });
      uo.mac = u.tap.mac;
      if (u.tap.nextHopMac !== undefined) uo.nextHopMac = u.tap.nextHopMac;
    }
    at('underlay', () => {
      try {
        dp.setUnderlay(uo, true);
      } catch (err) {
        uo.port?.close(); // not attached: the dataplane will not close it
        throw err;
      }
    });
    // With underlay.tap the sockets still receive (a kernel VTEP's super-packets reach them whole):
    // the TAP only sends.
    const needs = socketsNeeded(c);
    // UDP GRO on receive; 16 more sockets to send each flow from its own source port (RFC 7348 §5, docs/io.md).
    const sock = { address: u.address, reusePort: true, gro: true, srcPorts: 16, sndbuf: 4 << 20, rcvbuf: 4 << 20, ...(u.netns === undefined ? {} : { netns: u.netns }) };
    if (needs.vxlan) dp.addUnderlaySocket(UdpSocket.open({ ...sock, port: u.vxlanPort }), true);
    if (needs.mpls) dp.addUnderlaySocket(UdpSocket.open({ ...sock, port: u.mplsPort }), true);
    if (u.gre) {
      const family = u.address.includes(':') ? 6 : 4;
      dp.addUnderlaySocket(RawIpSocket.open({ family, protocol: IpProto.GRE, address: u.address, ...(u.netns === undefined ? {} : { netns: u.netns }) }), true);
    }
    // underlay.tap without nextHopMac: each remote's MAC from the kernel's neighbor table; a remote
    // not in it yet is sent to through the sockets, which makes the kernel resolve it.
    if (u.tap !== undefined && u.tap.nextHopMac === undefined) watchKernelNeighbors(dp, u.netns);
    c.bridges.forEach((b, bi) => {
      const path = `bridges[${bi}]`;
      const bo: BridgeOptions = { name: b.name, encap: b.encap, flood: b.flood, arpSuppress: b.arpSuppress, learn: b.learn };
      if (b.encap === 'vxlan') bo.vni = b.id;
      else if (b.encap === 'gre') bo.key = b.id;
      else bo.label = b.id;
      if (b.macLimit !== undefined) bo.macLimit = b.macLimit;
      const name = at(path, () => dp.addBridge(bo));
      b.ports.forEach((p, pi) => at(`${path}.ports[${pi}]`, () => dp.addBridgePort(name, openTap(p), true)));
      b.fdb.forEach((f, fi) => at(`${path}.fdb[${fi}]`, () => dp.addFdb(name, f.mac, f.remote !== undefined ? { remote: f.remote } : { port: f.port! })));
      b.arp.forEach((a, ai) => at(`${path}.arp[${ai}]`, () => dp.addArp(name, a.ip, a.mac)));
    });
    c.vrfs.forEach((v, vi) => {
      const path = `vrfs[${vi}]`;
      const vo: { name: string; label?: number; vni?: number } = { name: v.name };
      if (v.label !== undefined) vo.label = v.label;
      if (v.vni !== undefined) vo.vni = v.vni;
      at(path, () => dp.addVrf(vo));
      v.ports.forEach((p, pi) => {
        const po: VrfPortOptions = {};
        if (p.gateway !== undefined) po.gateway = `${formatIp(p.gateway)}/${p.gateway.length}`;
        if (p.gateway6 !== undefined) po.gateway6 = `${formatIp(p.gateway6)}/${p.gateway6.length}`;
        if (p.routerMac !== undefined) po.routerMac = p.routerMac;
        at(`${path}.ports[${pi}]`, () => dp.addVrfPort(v.name, openTap(p), po, true));
      });
      v.routes.forEach((r, ri) => {
        const nexthops = r.nexthops.map((n): RouteNextHop => {
          if (n.remote !== undefined) {
            const t: RouteNextHop = { remote: n.remote, encap: n.encap!, weight: n.weight };
            if (n.encap === 'vxlan') t.vni = n.id;
            else if (n.encap === 'gre') t.key = n.id;
            else t.label = n.id;
            if (n.mac !== undefined) t.mac = n.mac;
            return t;
          }
          const l: RouteNextHop = { port: n.port!, weight: n.weight };
          if (n.via !== undefined) l.via = n.via;
          return l;
        });
        at(`${path}.routes[${ri}]`, () => dp.addRoute(v.name, r.prefixText, nexthops));
      });
    });
  } catch (err) {
    dp.close();
    throw err;
  }
  return dp;
}

/** Keeps the dataplane's underlay neighbors equal to the kernel's complete IPv4 entries (every tick). */
function watchKernelNeighbors(dp: Dataplane, netns: string | undefined): void {
  const table = KernelArpTable.open(netns);
  const set = new Map<string, number>();
  const sync = (): void => {
    const now = table.read();
    for (const [ip, mac] of now) {
      if (set.get(ip) === mac) continue;
      set.set(ip, mac);
      dp.setUnderlayNeighbor(ip, mac);
    }
    for (const ip of set.keys()) {
      if (now.has(ip)) continue;
      set.delete(ip);
      dp.setUnderlayNeighbor(ip, null);
    }
  };
  sync();
  dp.onTick(sync, () => table.close());
}

/** Which underlay sockets a config needs. */
export function socketsNeeded(c: VswitchConfig): { vxlan: boolean; mpls: boolean; gre: boolean } {
  const encaps = new Set<string>();
  for (const b of c.bridges) encaps.add(b.encap);
  for (const v of c.vrfs) {
    if (v.vni !== undefined) encaps.add('vxlan');
    if (v.label !== undefined) encaps.add('mplsoudp');
    for (const r of v.routes) for (const n of r.nexthops) if (n.encap !== undefined) encaps.add(n.encap);
  }
  return { vxlan: encaps.has('vxlan'), mpls: encaps.has('mplsoudp'), gre: c.underlay.gre };
}

/** Runs an API call for the config entry at `path`: a refusal names the path. */
function at<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof VtepError && (err.code === 'ERR_INVALID_ARG' || err.code === 'ERR_EXISTS' || err.code === 'ERR_NOT_FOUND' || err.code === 'ERR_LIMIT')) {
      throw new VtepError('ERR_INVALID_CONFIG', `${path}.${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Opens a TAP device of a config, up, non-persistent. */
function openTap(p: TapConfig): TapDevice {
  // A virtio-net header, so that super-frames from the underlay go to the guest whole (GSO), and
  // offloads (TUNSETOFFLOAD), so that the guest sends super-frames with partial checksums: one
  // frame per 64 KB instead of 45, cut by the gso-segment stage.
  const o: Parameters<typeof TapDevice.open>[0] = { name: p.tap, up: true, persist: false, vnetHdr: true, offloads: p.offloads ?? true };
  if (p.netns !== undefined) o.netns = p.netns;
  if (p.mtu !== undefined) o.mtu = p.mtu;
  if (p.mac !== undefined) o.mac = p.mac;
  return TapDevice.open(o);
}
