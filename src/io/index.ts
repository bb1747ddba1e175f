/** The I/O ports: TAP devices, UDP, AF_PACKET and raw IP sockets, and the Port interface. */
export { FATAL_ERRNOS, type Port, type PortKind, type PortStats } from './port.js';
export { TapDevice, TapQueue, type TapOptions } from './tap.js';
export type { TapInfo } from './native.js';
export { UdpSocket, type UdpOptions } from './udp.js';
export { PacketSocket, RawIpSocket, ETH_P_ALL, type PacketSocketOptions, type RawIpOptions } from './raw.js';
export type { SocketOptions } from './socket.js';
export { MemoryPort, type MemoryPortOptions, type TransmitObserver } from './memory.js';
export { PcapPort, type PcapPortOptions } from './pcapport.js';
export { setPollLinger, pollLoopStats, type PollLoopStats } from './poll-loop.js';
