/**
 * Network namespaces for tests, benchmarks and demos. NETWORK SAFETY: every
 * link, address and route is made inside a namespace created here, with
 * `ip -n NS` or `ip netns exec NS`; nothing ever touches the root namespace.
 * Names carry the pid and a counter, so parallel runs do not collide, and
 * withNetns deletes what it created in a finally.
 *
 *   await withNetns(['a', 'b'], async (a, b) => {
 *     veth(a, 'va', '198.18.0.1/24', b, 'vb', '198.18.0.2/24');
 *     a.exec(['ping', '-c', '1', '198.18.0.2']);
 *   });
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
export { PACKAGE_ROOT as PACKAGE_DIR } from '../io/native.js';

let counter = 0;

/** True when namespace tests can run here: root, /dev/net/tun and `ip`. */
export function canUseNetns(): boolean {
  if (process.getuid?.() !== 0 || !existsSync('/dev/net/tun')) return false;
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * For test files: true (after printing one `skip:` line) when namespace tests
 * cannot run, so that the file registers no such test and passes.
 */
export function skipWithoutNetns(area: string): boolean {
  if (canUseNetns()) return false;
  console.log(`skip: ${area} tests need root and /dev/net/tun`);
  return true;
}

/** A name unique to this process and call: prefix + pid (base 36) + counter, at most 15 bytes. */
export function uniqueName(prefix: string): string {
  const name = `${prefix}${process.pid.toString(36)}${(counter++).toString(36)}`;
  if (name.length > 15) throw new Error(`uniqueName: ${name} is longer than 15 bytes; use a shorter prefix`);
  return name;
}

/** Namespaces this process made and has not deleted: removed on SIGINT/SIGTERM too. */
const live = new Set<Netns>();
let signalsHooked = false;

/**
 * On Ctrl-C or SIGTERM, deletes the namespaces still alive (a benchmark or
 * test stopped half-way must not leave them behind), then lets the signal do
 * what it would: exit, unless the program listens for it itself.
 */
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      for (const ns of [...live]) ns.delete();
      if (process.listenerCount(sig) === 1) {
        process.off(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

export class Netns {
  readonly name: string;
  #deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /** `ip netns add` with a unique name. */
  static create(prefix = 'vt'): Netns {
    const name = uniqueName(prefix);
    execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'pipe'] });
    const ns = new Netns(name);
    live.add(ns);
    hookSignals();
    // Loopback up: some tools (ping to local addresses, tshark) expect it.
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** The bind-mounted namespace file, for `netns` options that want a path. */
  get path(): string {
    return `/var/run/netns/${this.name}`;
  }

  /** `ip -n NAME ...args`; returns stdout. */
  ip(...args: string[]): string {
    return execFileSync('ip', ['-n', this.name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Runs a command inside the namespace and returns stdout (throws on exit status != 0). */
  exec(cmd: string[], options: { timeout?: number; input?: string } = {}): string {
    return execFileSync('ip', ['netns', 'exec', this.name, ...cmd], {
      encoding: 'utf8',
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: options.timeout ?? 30_000,
      ...(options.input === undefined ? {} : { input: options.input }),
    });
  }

  /** Starts a command inside the namespace (the caller waits for or kills it). */
  spawn(cmd: string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  }

  /** `sysctl -w key=value` inside the namespace. */
  sysctl(key: string, value: string | number): void {
    this.exec(['sysctl', '-q', '-w', `${key}=${value}`]);
  }

  /** True while the interface exists in this namespace. */
  hasLink(ifname: string): boolean {
    try {
      this.ip('link', 'show', 'dev', ifname);
      return true;
    } catch {
      return false;
    }
  }

  /** `ip netns del`; idempotent, never throws. */
  delete(): void {
    if (this.#deleted) return;
    this.#deleted = true;
    live.delete(this);
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}

/** Creates one namespace per prefix, runs fn, deletes them all in a finally. */
export async function withNetns<T>(prefixes: string[], fn: (...ns: Netns[]) => Promise<T> | T): Promise<T> {
  const made: Netns[] = [];
  try {
    for (const p of prefixes) made.push(Netns.create(p));
    return await fn(...made);
  } finally {
    for (const ns of made) ns.delete();
  }
}

/**
 * A veth pair from namespace a (aIf, address aCidr) to namespace b (bIf,
 * bCidr), both up. Created by `ip -n a`: the pair never exists in the root
 * namespace.
 */
export function veth(a: Netns, aIf: string, aCidr: string | undefined, b: Netns, bIf: string, bCidr: string | undefined): void {
  a.ip('link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name);
  if (aCidr !== undefined) a.ip('addr', 'add', aCidr, 'dev', aIf);
  if (bCidr !== undefined) b.ip('addr', 'add', bCidr, 'dev', bIf);
  a.ip('link', 'set', aIf, 'up');
  b.ip('link', 'set', bIf, 'up');
}

/** Resolves when the child exits: its exit code and collected output. */
export function waitExit(child: ChildProcess, timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Open fds of this process (for leak checks). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
