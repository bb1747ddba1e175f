/** The dataplane: facade, stages, configuration, simulated hosts. */
export { Dataplane, PortRole, type DataplaneOptions, type UnderlayOptions, type DataplaneStats } from './dataplane.js';
export type {
  DataplaneApi, DataplaneEvents, BridgeOptions, VrfOptions, VrfPortOptions, RouteNextHop, MacLocation,
  PortInfo, BridgeInfo, VrfInfo, FdbEntryInfo, NeighborInfo, RouteInfo, PacketTrace, TraceStep, CaptureDirection, CaptureFn,
} from './api.js';
export { fromConfig, socketsNeeded } from './fromconfig.js';
export { HeldQueue, type HeldLimits } from './held.js';
export type { VswitchConfigInput, UnderlayInput, BridgeInput, VrfInput, RouteInput, NextHopInput, TapPortInput, GatewayPortInput } from './config-types.js';
export { parseVswitchConfig, isVswitchConfig, type VswitchConfig, type BridgeConfig, type VrfConfig, type RouteConfig, type UnderlayConfig } from './config.js';
export { SimHost, type SimHostOptions, type PingReply } from './simhost.js';
export { arpReply, ndAdvert, echoReply4, echoReply6, arpRequestTarget, nsTarget } from './respond.js';
