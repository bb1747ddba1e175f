/**
 * The control socket of `vtep run`: a Unix stream socket speaking JSON lines
 * (protocol.ts, docs/ctl.md), no TCP.
 *
 * Access: the socket file is created with mode 0600 (umask 0177 around
 * bind, then chmod) in a directory we create 0700, so only its owner (and
 * root) can connect: connect(2) on a Unix socket needs write permission on
 * the file. Node does not expose SO_PEERCRED, so the peer's uid is not
 * checked a second time; the file mode is the check.
 *
 * A stale socket file (no one listening) is replaced; a live one is an
 * error, so two switches never share a path.
 */
import net from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { VtepError } from '../errors.js';
import { LineReader, ensureSocketDir, type Request, type Response } from './protocol.js';
import { runCommand, type Call, type CtlContext } from './commands.js';

export interface CtlServerOptions {
  path: string;
  /** Called for each failed request (for the run log). */
  onError?: (cmd: string, err: Error) => void;
}

/** Is something listening on this socket path? */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class CtlServer {
  readonly path: string;
  private readonly server: net.Server;
  private readonly conns = new Set<Connection>();

  private constructor(path: string, server: net.Server) {
    this.path = path;
    this.server = server;
  }

  static async listen(ctx: CtlContext, o: CtlServerOptions): Promise<CtlServer> {
    const path = o.path;
    ensureSocketDir(path);
    let exists = false;
    try {
      exists = lstatSync(path).isSocket();
      if (!exists) throw new VtepError('ERR_EXISTS', `--socket: ${path} exists and is not a socket`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (exists) {
      if (await probe(path)) throw new VtepError('ERR_EXISTS', `--socket: ${path}: another vtep run is listening there`);
      unlinkSync(path);
    }
    const server = net.createServer({ allowHalfOpen: false });
    const s = new CtlServer(path, server);
    server.on('connection', (sock) => s.accept(ctx, sock, o));
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    chmodSync(path, 0o600);
    return s;
  }

  private accept(ctx: CtlContext, sock: net.Socket, o: CtlServerOptions): void {
    const c = new Connection(ctx, sock, o);
    this.conns.add(c);
    sock.on('close', () => {
      c.cancelAll();
      this.conns.delete(c);
    });
  }

  /** Stops listening, ends every stream and connection, removes the socket file. */
  async close(): Promise<void> {
    for (const c of this.conns) c.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

class Connection implements Pick<Call, 'socket'> {
  /** Streams that are running: id -> cancel. */
  private readonly running = new Map<number, () => void>();
  private readonly reader: LineReader;

  constructor(private readonly ctx: CtlContext, readonly socket: net.Socket, private readonly o: CtlServerOptions) {
    this.reader = new LineReader((line) => this.line(line), () => {
      this.send({ id: 0, ok: false, error: { code: 'ERR_INVALID_ARG', message: 'request: a line longer than 16 MiB' } });
      this.socket.end();
    });
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('error', () => this.cancelAll());
  }

  send(r: Response): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    return this.socket.write(JSON.stringify(r) + '\n');
  }

  private line(text: string): void {
    let req: Request;
    try {
      req = JSON.parse(text) as Request;
      if (req === null || typeof req !== 'object' || !Number.isInteger(req.id) || typeof req.cmd !== 'string') throw new Error('not a request');
    } catch {
      this.send({ id: 0, ok: false, error: { code: 'ERR_INVALID_ARG', message: `request: ${JSON.stringify(text.slice(0, 60))} is not {"id":N,"cmd":"...","args":{...}}` } });
      return;
    }
    const id = req.id;
    if (req.cmd === 'cancel') {
      const target = Number((req.args ?? {}).id);
      const stop = this.running.get(target);
      stop?.();
      this.send({ id, ok: true, result: { cancelled: stop !== undefined } });
      return;
    }
    if (this.running.has(id)) {
      this.send({ id, ok: false, error: { code: 'ERR_EXISTS', message: `id: ${id} is a request still running on this connection` } });
      return;
    }
    const cancels: (() => void)[] = [];
    let cancelled = false;
    const call: Call = {
      id,
      args: req.args !== null && typeof req.args === 'object' ? req.args : {},
      socket: this.socket,
      data: (d) => this.send({ id, data: d }),
      get cancelled() {
        return cancelled;
      },
      onCancel: (fn) => {
        if (cancelled) fn();
        else cancels.push(fn);
      },
    };
    this.running.set(id, () => {
      if (cancelled) return;
      cancelled = true;
      for (const f of cancels) f();
    });
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(runCommand(this.ctx, req.cmd, call));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (r) => this.send({ id, ok: true, result: r ?? {} }),
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        this.o.onError?.(req.cmd, e);
        this.send({ id, ok: false, error: { code: (e as VtepError).code ?? 'ERR_INTERNAL', message: e.message } });
      },
    ).finally(() => this.running.delete(id));
  }

  cancelAll(): void {
    for (const stop of this.running.values()) stop();
  }

  end(): void {
    this.cancelAll();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 500).unref();
  }
}
