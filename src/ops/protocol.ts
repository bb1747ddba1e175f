/**
 * The control socket's protocol (docs/ctl.md is the contract): JSON lines
 * over a Unix stream socket. A client sends requests, each on one line:
 *
 *   {"id":1,"cmd":"fdb.add","args":{"bridge":"vxlan-42","mac":"02:00:00:00:00:02","remote":"198.18.0.2"}}
 *
 * and the server answers each with zero or more stream items and then one
 * final line, matched by id (requests may be pipelined; answers of streams
 * interleave):
 *
 *   {"id":1,"data":{...}}                                     a stream item (capture, stats --watch, trace)
 *   {"id":1,"ok":true,"result":{...}}                         done
 *   {"id":1,"ok":false,"error":{"code":"ERR_NOT_FOUND","message":"bridge: ..."}}
 *
 * {"id":2,"cmd":"cancel","args":{"id":1}} ends stream 1 (its final line
 * follows); closing the connection ends all of its streams.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** Protocol version, returned by the `hello` command. */
export const PROTOCOL_VERSION = 1;

/** A request line is at most this long (route.load batches stay under it). */
export const MAX_LINE = 16 << 20;

export interface Request {
  id: number;
  cmd: string;
  args?: Record<string, unknown>;
}

export type Response =
  | { id: number; data: unknown }
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: string; message: string } };

/** A captured frame as a stream item of `capture` (after the first item, `{listening, direction, snaplen}`). */
export interface CaptureFrame {
  dir: 'rx' | 'tx';
  /** Time: seconds and nanoseconds since the epoch. */
  sec: number;
  nsec: number;
  /** Length on the wire; `data` may be shorter (snaplen). */
  len: number;
  /** Base64 bytes. */
  data: string;
}

/**
 * The default socket path: /run/vtep/vtep.sock for root, else
 * $XDG_RUNTIME_DIR/vtep.sock, else /tmp/vtep-UID/vtep.sock.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  if (uid === 0) return '/run/vtep/vtep.sock';
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg !== undefined && xdg !== '') return path.join(xdg, 'vtep.sock');
  return `/tmp/vtep-${uid}/vtep.sock`;
}

/** Creates the socket's directory (0700) when it does not exist. */
export function ensureSocketDir(socketPath: string): void {
  mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
}

/**
 * Splits a byte stream into lines and calls `onLine` for each; a line longer
 * than MAX_LINE calls `onTooLong` and the rest is ignored.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly onLine: (line: string) => void, private readonly onTooLong: () => void) {}

  push(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) break;
      const piece = chunk.subarray(from, nl);
      const line = this.parts.length === 0 ? piece.toString('utf8') : Buffer.concat([...this.parts, piece]).toString('utf8');
      this.parts = [];
      this.size = 0;
      from = nl + 1;
      if (line.length > 0) this.onLine(line);
    }
    if (from < chunk.length) {
      this.size += chunk.length - from;
      if (this.size > MAX_LINE) {
        this.onTooLong();
        this.parts = [];
        this.size = 0;
        return;
      }
      this.parts.push(chunk.subarray(from));
    }
  }
}
