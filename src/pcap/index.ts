/** pcap and pcapng: readers (buffer and streaming) and writers. */
export { LinkType, BlockType as PcapngBlockType, PcapMagic, MAX_SNAPLEN, TSRESOL_DEFAULT, TSRESOL_POW2 } from './format.js';
export { CaptureInterface, CaptureRecord, type CaptureFormat, type CapturedPacket, type PacketInit } from './record.js';
export { CaptureSection, type CaptureReadOptions } from './parser.js';
export {
  captureFormat, readCapture, readCaptureBuffer, readCapturePackets, CaptureReader, CaptureBufferReader,
  type CaptureStreamOptions, type CaptureSource,
} from './reader.js';
export {
  PcapWriter, PcapngWriter, pcapToBuffer, pcapngToBuffer,
  type PcapWriterOptions, type PcapngWriterOptions, type PcapngInterfaceOptions, type PcapngSectionOptions, type CaptureTarget,
} from './writer.js';
export type { CaptureSinkOptions } from './sink.js';
