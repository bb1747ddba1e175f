/**
 * A throw-away etcd for tests and benchmarks: members listen on 127.0.0.1 on
 * free ports, keep their data in a temporary folder, and are killed by stop()
 * (call it in a finally). Needs the `etcd` binary (Debian package etcd-server).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { tempDir } from './tempdir.js';

/** The etcd binary's path, or undefined when it is not installed. */
export function etcdBinary(): string | undefined {
  for (const p of ['/usr/bin/etcd', '/usr/local/bin/etcd']) {
    if (spawnSync(p, ['--version'], { stdio: 'ignore' }).status === 0) return p;
  }
  return undefined;
}

export const ETCD_SKIP = 'needs etcd (Debian package etcd-server)';

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

interface Member {
  name: string;
  client: number;
  peer: number;
  proc: ChildProcess | undefined;
  /** The process ended by itself. */
  exited?: boolean;
  dir: string;
}

export interface EtcdClusterOptions {
  members?: number;
  /** Extra etcd flags for every member, e.g. TLS files. */
  args?: string[];
  /** Client URL scheme (https when args give TLS files). */
  scheme?: 'http' | 'https';
  /** Show etcd's log on standard error. */
  log?: boolean;
}

export class EtcdCluster {
  private readonly members: Member[] = [];
  private readonly tmp = tempDir('etcd');

  private constructor(private readonly opts: EtcdClusterOptions) {}

  /**
   * Starts the members. A free port can be taken by someone else before etcd
   * binds it (the machine is shared): a member that exits while starting makes
   * the attempt fail at once, and the cluster is started again on other ports
   * (three attempts).
   */
  static async start(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const c = new EtcdCluster(opts);
      try {
        const taken = new Set<number>();
        const port = async (): Promise<number> => {
          let p = await freePort();
          while (taken.has(p)) p = await freePort();
          taken.add(p);
          return p;
        };
        for (let i = 0; i < (opts.members ?? 1); i++) {
          c.members.push({ name: `m${i}`, client: await port(), peer: await port(), proc: undefined, dir: path.join(c.tmp.dir, `m${i}`) });
        }
        for (let i = 0; i < c.members.length; i++) c.spawn(i);
        await c.ready();
        return c;
      } catch (err) {
        c.stop();
        last = err;
      }
    }
    throw last;
  }

  /** The folder for extra files (certificates). */
  get dir(): string {
    return this.tmp.dir;
  }

  endpoints(): string[] {
    return this.members.map((m) => `${this.opts.scheme ?? 'http'}://127.0.0.1:${m.client}`);
  }

  private spawn(i: number): void {
    const m = this.members[i]!;
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peer}`).join(',');
    const args = [
      '--name', m.name, '--data-dir', m.dir,
      '--listen-client-urls', `${this.opts.scheme ?? 'http'}://127.0.0.1:${m.client}`,
      '--advertise-client-urls', `${this.opts.scheme ?? 'http'}://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `vtep-${process.pid}`,
      '--heartbeat-interval', '50', '--election-timeout', '500',
      ...(this.opts.args ?? []),
    ];
    const proc = spawn(etcdBinary() ?? 'etcd', args, { stdio: ['ignore', 'ignore', this.opts.log === true ? 'inherit' : 'ignore'] });
    m.proc = proc;
    proc.on('error', () => undefined);
    // Exited on its own (not killed by kill()): ready() stops waiting for it.
    proc.on('exit', () => {
      if (m.proc === proc) m.exited = true;
    });
    m.exited = false;
  }

  /** Waits until every running member answers /health (or `ms` passes). */
  async ready(ms = 15000): Promise<void> {
    const t0 = Date.now();
    for (;;) {
      const running = this.members.filter((m) => m.proc !== undefined);
      if (running.some((m) => m.exited)) throw new Error('etcd: a member exited while starting (its port taken?)');
      const ok = await Promise.all(running.map((m) => this.healthy(m)));
      if (ok.every(Boolean)) return;
      if (Date.now() - t0 > ms) throw new Error('etcd did not become healthy');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async healthy(m: Member): Promise<boolean> {
    if ((this.opts.scheme ?? 'http') === 'https') {
      // No client certificate here: a TCP connect is enough to know it listens.
      return new Promise((resolve) => {
        const c = connect(m.client, '127.0.0.1', () => {
          c.destroy();
          resolve(true);
        });
        c.on('error', () => resolve(false));
      });
    }
    try {
      const r = await fetch(`http://127.0.0.1:${m.client}/health`, { signal: AbortSignal.timeout(1000) });
      return r.ok && ((await r.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }

  /** Kills member i (SIGKILL), keeping its data. */
  kill(i = 0): void {
    const m = this.members[i]!;
    m.proc?.kill('SIGKILL');
    m.proc = undefined;
  }

  /** Starts member i again on its data and ports. */
  async restart(i = 0): Promise<void> {
    const m = this.members[i]!;
    if (m.proc !== undefined) return;
    this.spawn(i); // with its data dir in place, etcd ignores the initial-cluster flags
    await this.ready();
  }

  /** Kills every member and removes the data. */
  stop(): void {
    for (let i = 0; i < this.members.length; i++) this.kill(i);
    this.tmp.done();
  }
}
