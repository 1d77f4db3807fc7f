// SPDX-License-Identifier: MIT
// Drives the real iotrace CLI and real target processes from tests: start,
// wait for a line, read /proc state, talk to the echo server; every wait is
// bounded and every process started here can be killed in one call.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { LOAD_BINARY } from '../agent/lab/models';
import type { Snapshot } from '../agent/snapshot';
import type { Summary } from '../agent/summary';
import { ROOT } from './root';
import { compileAll, validateJson, validateRecording, type SchemaName } from './schema';

export { ROOT } from './root';
export { validateJson, validateRecording } from './schema';

// iotrace() validates what each run produced once it has exited; a test that
// reports how long a run took (inspect) must not count ajv compiling its schemas.
compileAll();

export const IOTRACE = path.join(ROOT, 'bin', 'iotrace');
export const WORKLOADS = path.join(ROOT, 'test', 'workloads', 'bin');

export const IS_ROOT = process.geteuid?.() === 0;
/** A describe/it skip reason for the eBPF backend's tests, false when they can run. */
export const NEEDS_ROOT: string | false = IS_ROOT ? false : 'the eBPF backend needs root (CAP_BPF and CAP_PERFMON); this run is not root';

const started = new Set<ChildProcess>();
/** Processes this module did not start (a run-mode command, iotrace's child) that killAll ends too. */
const adopted = new Set<number>();

/** Has killAll end pid too: a process some started process started (iotrace run's command). */
export function adopt(pid: number): void {
  adopted.add(pid);
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout/stderr text matching re (bounded by timeoutMs). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves when the process exits: its code or signal. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function start(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const notify = (): void => waiters.splice(0).forEach((w) => w());
  child.stdout?.on('data', (d: Buffer) => ((out += d.toString()), notify()));
  child.stderr?.on('data', (d: Buffer) => ((err += d.toString()), notify()));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  // 'exit' can come before the last output has been read; 'close' waits for
  // the pipes, which a grandchild (a run-mode command that runs on) may hold
  // open for good. So: after 'exit', wait for both pipes to end, at most 500 ms.
  const ended = (s: NodeJS.ReadableStream | null): Promise<void> =>
    new Promise((resolve) => (s ? s.once('end', resolve).once('close', resolve) : resolve()));
  const drained = Promise.all([ended(child.stdout), ended(child.stderr)]);
  child.on('exit', (code, signal) => {
    started.delete(child);
    void Promise.race([drained, new Promise((r) => setTimeout(r, 500))]).then(() => {
      exit = { code, signal };
      notify();
    });
  });
  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from ${cmd} ${args.join(' ')}\nstdout: ${out}\nstderr: ${err}`)), timeoutMs);
        const check = (): void => {
          const m = re.exec(out) ?? re.exec(err);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else if (exit) {
            clearTimeout(timer);
            reject(new Error(`${cmd} exited (${JSON.stringify(exit)}) before printing ${re}\nstdout: ${out}\nstderr: ${err}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    exited(timeoutMs = 20000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${cmd} to exit\nstdout: ${out}\nstderr: ${err}`)), timeoutMs);
        const check = (): void => {
          if (exit) {
            clearTimeout(timer);
            resolve(exit);
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
  };
  return proc;
}

/** The file of `--record FILE`, `--record=FILE` or `-r FILE` in args. */
function recordFile(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return undefined;
    if ((args[i] === '--record' || args[i] === '-r') && i + 1 < args.length) return path.resolve(ROOT, args[i + 1]);
    if (args[i].startsWith('--record=')) return path.resolve(ROOT, args[i].slice('--record='.length));
  }
  return undefined;
}

/** The schema of the document `iotrace <args>` prints with --json, by command. */
function jsonSchemaOf(args: string[]): { name: SchemaName; def?: string } | undefined {
  const end = args.indexOf('--');
  if (!(end < 0 ? args : args.slice(0, end)).includes('--json')) return undefined;
  switch (args[0]) {
    case 'attach':
    case 'run':
    case 'report':
      return { name: 'summary' };
    case 'lab':
      return args[1] === 'load' ? { name: 'lab', def: 'load' } : { name: 'lab' };
    case 'classify':
      return { name: 'classify' };
    case 'inspect':
      return { name: 'inspect' };
    default:
      return undefined;
  }
}

/** What a file was before a run, to tell whether the run wrote it. */
function fileState(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

/**
 * Runs iotrace with args. Once it has exited, whatever it produced is checked
 * against schemas/: the recording of --record (if this run wrote it: a file a
 * failed attach left alone is not its output) line by line, and the document
 * --json printed on stdout (if stdout is one JSON document; a test that cut
 * the run short checks what it got itself). exited() rejects naming what does
 * not fit.
 */
export function iotrace(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Proc {
  const record = recordFile(args);
  const before = record === undefined ? undefined : fileState(record);
  const json = jsonSchemaOf(args);
  const proc = start(process.execPath, [IOTRACE, ...args], opts);
  const exited = proc.exited.bind(proc);
  // Checked once, after the first exited() that saw the exit; every later call gets the same verdict.
  let verdict: { error?: unknown } | undefined;
  const check = (): void => {
    if (!verdict) {
      verdict = {};
      try {
        if (record !== undefined && fileState(record) !== undefined && fileState(record) !== before) validateRecording(record);
        if (json) {
          let doc: unknown;
          try {
            doc = JSON.parse(proc.stdout());
          } catch {
            doc = undefined;
          }
          if (doc !== undefined) validateJson(json.name, doc, `the --json output of iotrace ${args.join(' ')}`, json.def);
        }
      } catch (err) {
        verdict.error = err;
      }
    }
    if (verdict.error) throw verdict.error;
  };
  proc.exited = async (timeoutMs) => {
    const e = await exited(timeoutMs);
    check();
    return e;
  };
  return proc;
}

/** Runs iotrace to its end and returns code, stdout, stderr. */
export async function iotraceDone(args: string[], timeoutMs = 60000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const p = iotrace(args);
  const e = await p.exited(timeoutMs);
  return { ...e, stdout: p.stdout(), stderr: p.stderr() };
}

/** Kills every process started through this module that is still running. */
export function killAll(): void {
  for (const c of started) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
  for (const pid of adopted) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  adopted.clear();
}

/** A field of /proc/<pid>/status, undefined once the process is gone. */
export function statusField(pid: number, field: string): string | undefined {
  try {
    const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1].trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The process is alive, not stopped (T) nor in a trace stop (t), and TracerPid is 0. */
export function assertRunningUntraced(pid: number): void {
  const state = statusField(pid, 'State');
  if (state === undefined) throw new Error(`pid ${pid} is gone`);
  if (/^[tTZX]/.test(state)) throw new Error(`pid ${pid} is in state ${state}`);
  const tracer = statusField(pid, 'TracerPid');
  if (tracer !== '0') throw new Error(`pid ${pid} still has TracerPid ${tracer}`);
}

/** Polls /proc until the process state matches re (bounded); 'gone' once it has exited. */
export async function waitForState(pid: number, re: RegExp, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = statusField(pid, 'State') ?? 'gone';
    if (re.test(state)) return state;
    if (Date.now() > deadline) throw new Error(`pid ${pid} is in state ${state}, not ${re}, after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** The summary a `--json` run printed on stdout. */
export function summaryOf(p: Proc | { stdout: string; stderr: string }): Summary {
  const stdout = typeof p.stdout === 'function' ? p.stdout() : p.stdout;
  const stderr = typeof p.stderr === 'function' ? p.stderr() : p.stderr;
  try {
    return JSON.parse(stdout) as Summary;
  } catch (err) {
    throw new Error(`iotrace --json printed no JSON document (${String(err)})\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
}

/**
 * The lines of a recording being written or cut short: each complete line parsed (one that
 * does not parse throws), and the partial last line (no '\n' yet), '' if there is none.
 */
export function recordingLines(file: string): { lines: Array<{ type: string; [key: string]: unknown }>; partial: string } {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // not created yet
  }
  const end = text.lastIndexOf('\n') + 1;
  const lines = text
    .slice(0, end)
    .split('\n')
    .slice(0, -1)
    .map((l, i) => {
      try {
        return JSON.parse(l) as { type: string };
      } catch (err) {
        throw new Error(`${file}: line ${i + 1} does not parse: ${String(err)}`);
      }
    });
  return { lines, partial: text.slice(end) };
}

/**
 * Polls a --record file until its newest snapshot satisfies pred (bounded). State 't'
 * alone cannot tell a job-control stop from the signal-delivery-stop of the SIGSTOP just
 * before it; a SIGCONT sent in between cancels the stop (it clears the pending stop, so the
 * re-injected SIGSTOP does nothing) and there is no group-stop to test.
 */
export async function waitForSnapshot(file: string, pred: (s: Snapshot) => boolean, what: string, timeoutMs = 5000): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const snapshots = recordingLines(file).lines.filter((l) => l.type === 'snapshot');
    const last = snapshots[snapshots.length - 1]?.snapshot as Snapshot | undefined;
    if (last && pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`recording ${file} never showed ${what}; last counters ${JSON.stringify(last?.counters)}`);
    await sleep(25);
  }
}

/** Sends a line to the echo server and resolves with the reply line. */
export function echo(port: number, line: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no echo reply on port ${port} within ${timeoutMs} ms`))), timeoutMs);
    sock.on('connect', () => sock.write(line));
    sock.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) {
        clearTimeout(timer);
        sock.end();
        resolve(got);
      }
    });
    sock.on('error', (e) => (clearTimeout(timer), reject(e)));
  });
}

/**
 * Sends the echo server SIGUSR1 `count` times, each confirmed by "stats" before the next:
 * standard signals do not queue, so one sent while the previous is still pending would
 * merge with it. The handler runs before the server can read the next request, so each
 * reply counts it.
 */
export async function usr1Rounds(pid: number, port: number, from: number, count: number): Promise<void> {
  for (let i = from + 1; i <= from + count; i++) {
    process.kill(pid, 'SIGUSR1');
    const reply = await echo(port, 'stats\n');
    if (reply !== `usr1=${i}\n`) throw new Error(`SIGUSR1 #${i} was not handled once: the server says ${JSON.stringify(reply)}`);
  }
}

/** The lab's load generator on a server for `seconds` (it ends by itself); every answer is checked byte for byte. */
export function startLoad(port: number, seconds: number, connections = 16): Proc {
  return start(LOAD_BINARY(), ['--target', `127.0.0.1:${port}`, '--connections', String(connections), '--duration', String(seconds)]);
}

/** Starts test/workloads/bin/echo-server and resolves with it and its port. */
export async function startEchoServer(): Promise<{ proc: Proc; port: number }> {
  const proc = start(path.join(WORKLOADS, 'echo-server'), ['--port', '0']);
  const m = await proc.waitFor(/port=(\d+)/);
  return { proc, port: Number(m[1]) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The node_modules directories the CLI loads at run time: package.json's dependencies and
 * theirs, each found as node does (nested under the package that needs it, else at the top).
 */
export function runtimeModules(): string[] {
  const dirs = new Set<string>();
  const visit = (from: string, name: string): void => {
    for (let base = from; ; base = path.dirname(base)) {
      const dir = path.join(base, 'node_modules', name);
      if (fs.existsSync(path.join(dir, 'package.json'))) {
        if (dirs.has(dir)) return;
        dirs.add(dir);
        const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
        for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dir, dep);
        return;
      }
      if (base === ROOT || !base.startsWith(ROOT)) return; // not installed (an optional dependency)
    }
  };
  const top = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(top.dependencies ?? {})) visit(ROOT, dep);
  // Nested ones come with the package that holds them.
  return [...dirs].map((d) => path.relative(ROOT, d)).filter((d) => !d.includes('/node_modules/'));
}

/** A copy of what the CLI needs, in a directory anyone can read (see unprivileged). */
export function readableCopy(): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-nobody-'));
  fs.chmodSync(copy, 0o755);
  for (const part of ['bin', 'dist', 'build/Release/iotrace.node', 'package.json', ...runtimeModules()]) {
    fs.cpSync(path.join(ROOT, part), path.join(copy, part), { recursive: true });
  }
  return copy;
}
