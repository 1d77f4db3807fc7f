// SPDX-License-Identifier: MIT
// Child processes for the benchmark: run to the end, or start in the
// background and stop with SIGINT, with the CPU and peak RSS GNU time saw.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export { ROOT } from '../test/root';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command to its end; throws with its stderr if it fails. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const running = new Set<Background>();

/** Kills whatever the benchmark still runs: its own end on a signal or an error. */
export function killRunning(): void {
  for (const b of running) b.child.kill('SIGKILL');
}

/** A background process whose output is kept, ended with SIGINT (or SIGTERM). */
export class Background {
  readonly child: ChildProcess;
  out = '';
  err = '';
  private readonly timeFile: string | undefined;
  private readonly done: Promise<void>;

  /** timed: run under /usr/bin/time to learn the process's CPU and peak RSS. */
  constructor(cmd: string, args: string[], opts: { timed?: boolean; cwd?: string } = {}) {
    if (opts.timed) {
      this.timeFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-bench-')), 'time');
      this.child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', this.timeFile, cmd, ...args], { cwd: opts.cwd });
    } else {
      this.child = spawn(cmd, args, { cwd: opts.cwd });
    }
    this.child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.err += d.toString()));
    running.add(this);
    this.done = new Promise((resolve) =>
      this.child.on('close', () => {
        running.delete(this);
        resolve();
      }),
    );
  }

  async waitFor(re: RegExp, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!re.test(this.out) && !re.test(this.err)) {
      if (this.child.exitCode !== null || Date.now() > end) throw new Error(`${what}: no ${re} within ${timeoutMs} ms:\n${this.err}${this.out}`);
      await sleep(20);
    }
  }

  /** The process the tracer really is: under /usr/bin/time, its only child. */
  pid(): number {
    if (!this.timeFile) return this.child.pid ?? 0;
    const kids = spawnSync('pgrep', ['-P', String(this.child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n');
    return Number(kids[0]) || 0;
  }

  /** Ends it (GNU time ignores SIGINT while its child runs: the child gets it). */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 30_000): Promise<{ cpuSec: number; maxRssKiB: number } | null> {
    const target = this.pid();
    try {
      if (target) process.kill(target, signal);
    } catch {
      // Already gone.
    }
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.done;
    clearTimeout(t);
    if (!this.timeFile) return null;
    const [u, s, rss] = fs.readFileSync(this.timeFile, 'utf8').trim().split(/\s+/).slice(-3).map(Number);
    fs.rmSync(path.dirname(this.timeFile), { recursive: true, force: true });
    return { cpuSec: (u ?? 0) + (s ?? 0), maxRssKiB: rss ?? 0 };
  }

  exited(): Promise<void> {
    return this.done;
  }
}

/** A free TCP port on 127.0.0.1, by asking the kernel for one. */
export function freePort(): number {
  const r = spawnSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}
