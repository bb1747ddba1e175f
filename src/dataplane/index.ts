/** The dataplane: pipeline, configuration, simulated hosts. */
export {
  Dataplane, PortRole,
  type DataplaneOptions, type UnderlayOptions, type BridgeOptions, type VrfPortOptions, type RouteNextHop, type DataplaneStats,
} from './dataplane.js';
export { parseVswitchConfig, isVswitchConfig, type VswitchConfig, type BridgeConfig, type VrfConfig, type RouteConfig, type UnderlayConfig } from './config.js';
export { SimHost, type SimHostOptions, type PingReply } from './simhost.js';
export { arpReply, ndAdvert, echoReply4, echoReply6, arpRequestTarget, nsTarget } from './respond.js';
