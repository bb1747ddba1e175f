/** A client of the control socket: one connection, pipelined requests matched by id. */
import net from 'node:net';
import { VtepError, type VtepErrorCode } from '../errors.js';
import { LineReader, type Response } from './protocol.js';

interface Pending {
  onData: ((d: unknown) => void) | undefined;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
}

export class CtlClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | undefined;

  private constructor(private readonly sock: net.Socket) {
    const reader = new LineReader((line) => this.line(line), () => this.fail(new Error('response longer than 16 MiB')));
    sock.on('data', (c: Buffer) => reader.push(c));
    sock.on('error', (err) => this.fail(err));
    sock.on('close', () => this.fail(new VtepError('ERR_CLOSED', 'the control socket closed the connection')));
  }

  /** Connects; errors name the path (ENOENT: nothing there, EACCES: not ours, ECONNREFUSED: stale). */
  static connect(path: string): Promise<CtlClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new CtlClient(s));
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is vtep run running with this --socket?)'
          : err.code === 'EACCES' ? ' (the socket belongs to another user)' : '';
        reject(new VtepError('ERR_NATIVE', `--socket ${path}: ${err.code ?? err.message}${hint}`, { errno: err.code, cause: err }));
      });
    });
  }

  /** Sends a request; resolves with its result, calls onData for each stream item. */
  request(cmd: string, args: Record<string, unknown> = {}, onData?: (d: unknown) => void): Promise<unknown> & { id: number } {
    const id = this.nextId++;
    const p = new Promise<unknown>((resolve, reject) => {
      if (this.closedError !== undefined) {
        reject(this.closedError);
        return;
      }
      this.pending.set(id, { onData, resolve, reject });
      this.sock.write(JSON.stringify({ id, cmd, args }) + '\n');
    }) as Promise<unknown> & { id: number };
    p.id = id;
    return p;
  }

  /** Ends a stream request early (its promise resolves with the final result). */
  cancel(id: number): void {
    if (this.closedError === undefined) this.sock.write(JSON.stringify({ id: 0x7fffffff - id, cmd: 'cancel', args: { id } }) + '\n');
  }

  close(): void {
    this.sock.end();
  }

  private line(text: string): void {
    let r: Response;
    try {
      r = JSON.parse(text) as Response;
    } catch {
      return;
    }
    const p = this.pending.get(r.id);
    if (p === undefined) return;
    if ('data' in r) {
      p.onData?.(r.data);
      return;
    }
    this.pending.delete(r.id);
    if (r.ok) p.resolve(r.result);
    else p.reject(new VtepError(r.error.code as VtepErrorCode, r.error.message));
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
