/** pcap and pcapng: readers (buffer and streaming) and writers. */
export * from './format.js';
export { CaptureInterface, CaptureRecord, type CaptureFormat, type CapturedPacket, type PacketInit } from './record.js';
export { CaptureSection, type ReadOptions } from './parser.js';
export {
  captureFormat, readCapture, readCaptureBuffer, readCapturePackets, CaptureReader, CaptureBufferReader,
  type StreamReadOptions, type CaptureSource,
} from './reader.js';
