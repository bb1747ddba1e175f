/** pcap and pcapng: readers (buffer and streaming) and writers. */
export { LinkType, BlockType, PcapMagic, MAX_SNAPLEN, TSRESOL_DEFAULT, TSRESOL_POW2 } from './format.js';
export { CaptureInterface, CaptureRecord, type CaptureFormat, type CapturedPacket, type PacketInit } from './record.js';
export { CaptureSection, type ReadOptions } from './parser.js';
export {
  captureFormat, readCapture, readCaptureBuffer, readCapturePackets, CaptureReader, CaptureBufferReader,
  type StreamReadOptions, type CaptureSource,
} from './reader.js';
export {
  PcapWriter, PcapngWriter, pcapToBuffer, pcapngToBuffer,
  type PcapWriterOptions, type PcapngWriterOptions, type InterfaceOptions, type SectionOptions, type CaptureTarget,
} from './writer.js';
export type { SinkOptions } from './sink.js';
