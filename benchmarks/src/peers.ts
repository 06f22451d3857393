/**
 * The benchmark peers (benchmarks/peers/*.py: PyTorch and Keras) as child processes of a benchmark, so
 * ours and theirs are measured in one run, interleaved. A peer lives in a project-local virtual
 * environment that `npm run bench:peers` (benchmarks/peers/install.sh) installs on demand; a peer that is
 * not installed is reported with the reason and the benchmark prints ours alone.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The peers a benchmark can start. */
export type PeerName = 'pytorch' | 'keras';

/** Every {@link PeerName}, in display order. */
export const PEER_NAMES: readonly PeerName[] = Object.freeze(['pytorch', 'keras']);

const VENV: Readonly<Record<PeerName, string>> = { pytorch: 'torch', keras: 'keras' };
const SCRIPT: Readonly<Record<PeerName, string>> = { pytorch: 'torch_peer.py', keras: 'keras_peer.py' };

/** The repository root (benchmarks/dist/.. /..). */
export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Where the peers' virtual environments are: `$COMPACTREC_PEERS_HOME`, else `<repo>/.peers`. */
export function peersHome(): string {
  return process.env.COMPACTREC_PEERS_HOME ?? join(repoRoot(), '.peers');
}

/** What a peer says about itself. */
export interface PeerInfo {
  readonly peer: string;
  readonly version: string;
  readonly threads: number;
}

/** A running peer: one JSON request per line in, one JSON answer per line out. */
export class Peer {
  readonly name: PeerName;
  readonly info: PeerInfo;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: ((line: string) => void)[] = [];
  private stderrTail: string[] = [];
  private exited: string | null = null;

  private constructor(name: PeerName, child: ChildProcessWithoutNullStreams, info: PeerInfo) {
    this.name = name;
    this.child = child;
    this.info = info;
    this.lines = createInterface({ input: child.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
  }

  /**
   * Starts a peer with `threads` compute threads, or says why it cannot: not installed (with the
   * install command), its install failed (the reason it left), or it died at start (its last stderr).
   */
  static async start(name: PeerName, threads = availableParallelism()): Promise<Peer | { unavailable: string }> {
    const home = peersHome();
    const python = join(home, VENV[name], 'bin', 'python');
    const failed = join(home, `${VENV[name]}.failed`);
    if (!existsSync(join(home, VENV[name], '.stamp'))) {
      const why = existsSync(failed) ? `its install failed: ${readFileSync(failed, 'utf8').trim()}` : 'not installed';
      return { unavailable: `${why}; run \`npm run bench:peers\` (bash benchmarks/peers/install.sh)` };
    }
    const script = join(repoRoot(), 'benchmarks', 'peers', SCRIPT[name]);
    const child = spawn(python, [script, '--threads', String(threads)], {
      cwd: dirname(script),
      // PyTorch's OpenMP threads spin while waiting by default; on a shared machine that halves its speed
      // (measured 2.4k vs 5–6.8k samples/s at load 21), so the peer gets the passive policy unless set.
      env: {
        ...process.env,
        TF_CPP_MIN_LOG_LEVEL: '2',
        PYTHONUNBUFFERED: '1',
        ...(name === 'pytorch' ? { OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' } : {}),
      },
    });
    const tail: string[] = [];
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      tail.push(...chunk.split('\n').filter((l) => l.trim() !== ''));
      if (tail.length > 20) tail.splice(0, tail.length - 20);
    });
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string | null>((res) => {
      child.once('exit', () => res(null));
      child.once('error', () => res(null));
      lines.once('line', (l) => res(l));
      child.stdin.write('{"task":"info"}\n');
    });
    lines.close();
    if (first === null) return { unavailable: `it exited at start: ${tail.slice(-3).join(' | ') || 'no output'}` };
    const peer = new Peer(name, child, JSON.parse(first) as PeerInfo);
    peer.stderrTail = tail;
    child.once('exit', (code, signal) => {
      peer.exited = `exited (${signal ?? code})`;
      for (const p of peer.pending.splice(0)) p('');
    });
    return peer;
  }

  /** Sends one request and waits for its answer; a peer-side error becomes a thrown Error. */
  async request<T>(req: Record<string, unknown>): Promise<T> {
    if (this.exited) throw new Error(`peer ${this.name} ${this.exited}`);
    const line = await new Promise<string>((res) => {
      this.pending.push(res);
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
    if (line === '') throw new Error(`peer ${this.name} ${this.exited}: ${this.stderrTail.slice(-3).join(' | ')}`);
    const out = JSON.parse(line) as T & { error?: string };
    if (out.error) throw new Error(`peer ${this.name}: ${out.error}`);
    return out;
  }

  /** Ends the peer (closes its stdin; it exits at EOF). */
  close(): void {
    this.child.stdin.end();
    this.lines.close();
  }
}

/** Starts every peer in `names`; returns the running ones and a line per unavailable one. */
export async function startPeers(
  names: readonly PeerName[],
  threads?: number,
): Promise<{ peers: Peer[]; unavailable: [PeerName, string][] }> {
  const peers: Peer[] = [];
  const unavailable: [PeerName, string][] = [];
  for (const n of names) {
    const p = await Peer.start(n, threads);
    if (p instanceof Peer) peers.push(p);
    else unavailable.push([n, p.unavailable]);
  }
  return { peers, unavailable };
}

/** The 1-minute load average, as `uptime` prints it (the machine is shared: report it with every figure). */
export function loadLine(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}
