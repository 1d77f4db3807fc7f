// SPDX-License-Identifier: MIT
// Runs one lab model: starts its server and the load generator on 127.0.0.1,
// attaches a session to the server (the same Session as `attach`), and stops
// all three whatever happens, leaving no process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

import type { BackendChoice } from '../backend';
import { IotraceError } from '../errors';
import { Session, type SessionResult } from '../session';
import type { Snapshot } from '../snapshot';
import { LOAD_BINARY, serverCommand, type LabModel } from './models';

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSec: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  bytes: number;
  errors: Record<string, number>;
  connections: number;
}

export interface LabRunOptions {
  model: LabModel;
  /** --backend; absent: auto. */
  backend?: BackendChoice;
  durationSec: number;
  connections: number;
  intervalSec: number;
  record?: string;
  /** --events, --events-max: as for attach. */
  events?: boolean;
  eventsMax?: number;
  onSnapshot?: (cur: Snapshot, prev: Snapshot | undefined) => void;
  warn: (message: string) => void;
  /** Receives a function that ends the session early (Ctrl-C). */
  onStoppable?: (stop: (reason: string) => void) => void;
  /** Receives the session once attached (the dashboard reads its header, records through it). */
  onSession?: (session: Session) => void;
}

export interface LabRunResult {
  model: LabModel;
  port: number;
  /** The server's pid, and the process group it and its children ran in. */
  pid: number;
  pgid: number;
  session: SessionResult;
  load: LoadResult | null;
  loadError: string | undefined;
}

function waitForLine(child: ChildProcess, re: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => done(new IotraceError('ELAB', `${what} did not start within ${timeoutMs} ms${err ? `: ${err.trim()}` : ''}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = re.exec(out);
      if (m) done(undefined, m);
    };
    const onErr = (d: Buffer): void => {
      err += d.toString();
    };
    const onExit = (): void => done(new IotraceError('ELAB', `${what} exited before it was ready${err ? `: ${err.trim()}` : ''}`));
    const done = (e?: Error, m?: RegExpExecArray): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(m as RegExpExecArray);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.on('exit', onExit);
  });
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** SIGTERM to the process group, then SIGKILL after a grace period. */
async function stopGroup(pid: number, graceMs: number): Promise<void> {
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // group gone
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  signalGroup('SIGKILL');
}

export async function runLab(opts: LabRunOptions): Promise<LabRunResult> {
  const { model } = opts;
  const cmd = serverCommand(model);
  const load = LOAD_BINARY();
  for (const f of [cmd.file, load]) {
    if (!fs.existsSync(f)) throw new IotraceError('ELAB', `lab binary ${f} is not built; run "npm run build"`);
  }
  // The server must not be iotrace's own child: the kernel reports a
  // tracee's stops to a waitpid() of its real parent when that parent is in
  // the tracer's thread group (kernel/exit.c, wait_consider_task), and libuv's
  // SIGCHLD handler would swallow them. A shell is its real parent, as a
  // service manager would be; shell and server share a process group, so
  // stopping the group stops the server and all its children (the fork and
  // worker models have many).
  const keeper = spawn('/bin/sh', ['-c', '"$@" & echo "pid=$!"; wait $!', 'sh', cmd.file, ...cmd.args, '--port', '0'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...model.env },
  });
  const groupPid = keeper.pid ?? 0;
  let loader: ChildProcess | undefined;
  try {
    // The shell's pid= and the server's port= come in either order.
    const ready = waitForLine(keeper, /(?=[\s\S]*pid=(\d+))(?=[\s\S]*port=(\d+))/, `the ${model.name} server`, 5000);
    const m = await ready;
    keeper.stdout?.resume();
    keeper.stderr?.resume();
    const serverPid = Number(m[1]);
    const port = Number(m[2]);
    const session = new Session({
      mode: 'attach',
      backend: opts.backend,
      pid: serverPid,
      // Servers that fork their workers at start (epoll-workers) do the work there.
      children: true,
      seccomp: false,
      durationMs: opts.durationSec * 1000,
      intervalMs: opts.intervalSec * 1000,
      record: opts.record,
      events: opts.events,
      eventsMax: opts.eventsMax,
      warn: opts.warn,
      onSnapshot: opts.onSnapshot,
    });
    // The load starts once the server is traced, so that every connection
    // (and every fork or thread per connection) is seen.
    const args = ['--target', `127.0.0.1:${port}`, '--connections', String(opts.connections), '--duration', String(opts.durationSec + 2)];
    if (model.load.http) args.push('--http', model.load.http);
    loader = spawn(load, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let loadOut = '';
    let loadErr = '';
    loader.stdout?.on('data', (d: Buffer) => (loadOut += d.toString()));
    loader.stderr?.on('data', (d: Buffer) => (loadErr += d.toString()));
    // 'close', not 'exit': only then has all of its stdout been read.
    const loadExit = new Promise<void>((resolve) => loader?.on('close', () => resolve()));

    opts.onStoppable?.((reason) => session.stop(reason));
    opts.onSession?.(session);
    const result = await session.run();

    // The load ends by itself 2 s after the session; SIGINT makes it report now.
    try {
      if (loader.pid) process.kill(loader.pid, 'SIGINT');
    } catch {
      // already done
    }
    await Promise.race([loadExit, new Promise((r) => setTimeout(r, 3000))]);
    let loadResult: LoadResult | null = null;
    let loadError: string | undefined;
    try {
      loadResult = JSON.parse(loadOut.trim().split('\n').pop() ?? '') as LoadResult;
    } catch {
      loadError = `the load generator reported nothing${loadErr ? `: ${loadErr.trim()}` : ''}`;
    }
    return { model, port, pid: serverPid, pgid: groupPid, session: result, load: loadResult, loadError };
  } finally {
    if (loader?.pid) await stopGroup(loader.pid, 1000);
    if (groupPid) await stopGroup(groupPid, 3000);
  }
}
