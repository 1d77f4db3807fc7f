// SPDX-License-Identifier: MIT
// The native backends (ptrace and eBPF): start one through the addon and turn
// its aggregation, the same for both, into snapshots.
import * as os from 'node:os';

import type { NativeError, NativeSnapshot, NativeTracer } from '../native/index';
import type { Backend, BackendName, BackendStatus } from './backend';
import { IotraceError } from './errors';
import { NO_EVENTS, type EventBatch } from './events';
import { FdDescriber } from './fd-info';
import { SYSCALLS } from './gen/syscalls';
import { loadNative } from './native';
import { WAIT_KINDS, type Snapshot, type SyscallStat, type WaitKind } from './snapshot';
import { describeTracer, readCmdline } from './target';
import { uringOpName } from './uring-ops';

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, n]) => [n, name] as [number, string]),
);
// Linux-only errnos Node does not list (include/linux/errno.h): they reach
// user space as the error of an interrupted syscall.
ERRNO_NAMES.set(512, 'ERESTARTSYS');
ERRNO_NAMES.set(513, 'ERESTARTNOINTR');
ERRNO_NAMES.set(514, 'ERESTARTNOHAND');
ERRNO_NAMES.set(516, 'ERESTART_RESTARTBLOCK');
// Node maps both to one name; EAGAIN is what strace and the kernel say.
ERRNO_NAMES.set(os.constants.errno.EAGAIN, 'EAGAIN');

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(os.constants.signals).map(([name, n]) => [n, name] as [number, string]),
);

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

export function signalName(n: number | null): string | null {
  return n === null ? null : SIGNAL_NAMES.get(n) ?? `SIG${n}`;
}

/** The addon's per-kind arrays (indexed by iot_wait_kind) as objects keyed by WAIT_KINDS. */
function byWaitKind(values: number[]): Record<WaitKind, number> {
  const out = {} as Record<WaitKind, number>;
  WAIT_KINDS.forEach((k, i) => (out[k] = values[i] ?? 0));
  return out;
}

export interface NativeStart {
  backend: BackendName;
  mode: 'attach' | 'run';
  pid?: number;
  /** Run mode: absolute path, argv, environment. */
  path?: string;
  argv?: string[];
  env?: string[];
  /** ptrace run mode: stop only on catalogued syscalls (seccomp); false traces every syscall. */
  seccomp: boolean;
  /** Attach mode: existing processes to trace as well (the target's children). */
  extraPids?: number[];
  /** Run mode: send the command's stdout to stderr. */
  stdoutToStderr?: boolean;
  /** --events: capture each counted syscall for drainEvents. */
  events?: boolean;
}

/** The syscalls run mode's seccomp filter stops on: the catalog's choice. */
export function seccompNumbers(): number[] {
  return SYSCALLS.filter((d): d is NonNullable<typeof d> => d !== undefined && d.seccomp).map((d) => d.nr);
}

function fromNativeError(err: unknown, pid: number | undefined, backend: BackendName): IotraceError {
  const e = err as Partial<NativeError>;
  if (!e || typeof e.code !== 'string') throw err;
  if (e.code === 'ESRCH') {
    // Attach mode: checkAttachable found the pid alive just before, so it exited since,
    // whichever step of either backend noticed it.
    if (pid !== undefined) return new IotraceError('ESRCH', `pid ${pid}: the process exited during attach`);
    return new IotraceError('ESRCH', e.message ?? 'no such process');
  }
  if (e.syscall?.startsWith('execve(')) {
    const file = e.syscall.slice('execve('.length, -1);
    const hint = e.code === 'ENOENT' ? ' (is its #! interpreter missing?)' : '';
    return new IotraceError(e.code, `cannot execute ${file}: ${(e.message ?? "").replace(/^[^:]*: /, "")}${hint}`);
  }
  if (backend === 'ebpf' && e.syscall?.startsWith('bpf')) {
    return new IotraceError(e.code, `the eBPF backend cannot load its probes: ${e.reason || e.message}; --backend ptrace traces without eBPF`);
  }
  if (e.code === 'EPERM') {
    const reason = (e.reason || e.message || '').replace(/already traced by pid (\d+)/, (_, tid: string) => `already traced by ${describeTracer(Number(tid))}`);
    return new IotraceError('EPERM', `permission denied: cannot trace pid ${pid}: ${reason}`);
  }
  return new IotraceError(e.code, e.message ?? String(err));
}

const live = new Set<NativeBackend>();

/** Detaches every live backend: the last thing a crashing iotrace does. */
export function stopAllBackends(): void {
  for (const b of [...live]) {
    try {
      b.stop();
    } catch {
      // Keep detaching the others.
    }
  }
}

const TRIM_INTERVAL_NS = 10e9;

export class NativeBackend implements Backend {
  readonly name: BackendName;
  readonly pid: number;
  private readonly tracer: NativeTracer;
  private readonly startNs: number;
  private readonly events: boolean;
  private readonly describer = new FdDescriber();
  /** Each process's command line as last read from /proc, and its exec count then. */
  private readonly cmdlines = new Map<number, { cmdline: string; execs: number }>();
  private last: Snapshot | undefined;
  private stopped = false;
  private trimmedAtNs = 0;

  constructor(start: NativeStart) {
    this.name = start.backend;
    const native = loadNative();
    if (native.waitKinds !== WAIT_KINDS.length) {
      throw new IotraceError('ENATIVE', `the native addon has ${native.waitKinds} wait kinds, agent/snapshot.ts ${WAIT_KINDS.length}: rebuild it (npm run build)`);
    }
    const seccomp = start.backend === 'ptrace' && start.seccomp;
    const options = {
      backend: start.backend,
      seccomp,
      seccompNrs: seccomp ? seccompNumbers() : [],
      stdoutToStderr: start.stdoutToStderr === true,
      extraPids: start.extraPids ?? [],
      events: start.events === true,
    };
    this.events = options.events;
    const spawn = (file: string, argv: string[]): NativeTracer => native.spawn(file, argv, start.env ?? [], options);
    try {
      if (start.mode === 'attach') {
        this.tracer = native.attach(start.pid ?? 0, options);
      } else {
        try {
          this.tracer = spawn(start.path ?? '', start.argv ?? []);
        } catch (err) {
          // What execvp(3) does with an executable that is no binary and has
          // no #! line: run it with the shell.
          if ((err as Partial<NativeError>).code !== 'ENOEXEC') throw err;
          this.tracer = spawn('/bin/sh', ['sh', start.path ?? '', ...(start.argv ?? []).slice(1)]);
        }
      }
    } catch (err) {
      throw fromNativeError(err, start.pid, start.backend);
    }
    this.pid = this.tracer.pid;
    live.add(this);
    this.startNs = native.monoNs();
  }

  snapshot(): Snapshot {
    if (this.stopped) {
      if (!this.last) throw new IotraceError('ESTOPPED', 'the backend is stopped');
      return this.last;
    }
    const raw = this.tracer.snapshot();
    this.last = this.convert(raw);
    // glibc keeps the pages V8's worker threads free in their malloc arenas
    // (bin/iotrace limits them to two): a trim every 10 s (a few ms) hands
    // them back (docs/limits.md, "Memory V8 and the allocator keep").
    if (raw.monoNs - this.trimmedAtNs >= TRIM_INTERVAL_NS) {
      this.trimmedAtNs = raw.monoNs;
      loadNative().trimMalloc();
    }
    return this.last;
  }

  drainEvents(max: number): EventBatch {
    if (!this.events) return NO_EVENTS;
    // The native side subtracts the origin: startNs keeps its nanoseconds
    // whatever the machine's uptime. Calls entered before the session began
    // (run mode's execve) get a negative startNs.
    return this.tracer.drainEvents(Math.max(0, Math.floor(max)), this.startNs);
  }

  status(): BackendStatus {
    const s = this.tracer.status();
    return {
      targetGone: s.targetGone,
      exit: s.exited ? { code: s.exitCode, signal: signalName(s.exitSignal), coreDumped: s.coreDumped } : null,
    };
  }

  stop(): string | undefined {
    if (this.stopped) return undefined;
    const ok = this.tracer.stop(3000);
    // The aggregation outlives the tracer thread: this last snapshot has
    // every syscall that finished before the detach.
    this.snapshot();
    this.stopped = true;
    live.delete(this);
    return ok ? undefined : 'some threads did not stop for the detach within 3 s; the kernel detaches them when iotrace exits';
  }

  private convert(raw: NativeSnapshot): Snapshot {
    const syscalls: SyscallStat[] = raw.syscalls.map((s) => {
      const d = SYSCALLS[s.nr];
      const errnos: Record<string, number> = {};
      for (const [n, count] of Object.entries(s.errnos)) errnos[errnoName(Number(n))] = count;
      return {
        nr: s.nr,
        name: d?.name ?? `syscall_${s.nr}`,
        cls: d?.cls ?? '-',
        calls: s.calls,
        errors: s.errors,
        eagain: s.eagain,
        errnos,
        totalNs: s.totalNs,
        maxNs: s.maxNs,
        bytes: s.bytes,
        ready: s.ready,
        watched: s.watched,
        maxWatched: s.maxWatched,
        eagainSpin: s.eagainSpin,
        latLog2: s.latLog2,
      };
    });
    const described = this.describer.describe(raw.fds);
    const fds = raw.fds.map((f) => {
      const d = described.get(`${f.pid}:${f.fd}`) ?? { type: 'unknown' as const, desc: '' };
      const { link: _link, ...counts } = f;
      return { ...counts, type: d.type, desc: d.desc };
    });
    const threads = raw.threads.map((t) => ({
      pid: t.pid,
      tid: t.tid,
      calls: t.calls,
      totalNs: t.totalNs,
      bytesIn: t.bytesIn,
      bytesOut: t.bytesOut,
      alive: t.alive,
      waitNs: byWaitKind(t.waitNs),
      waitCalls: byWaitKind(t.waitCalls),
      eagain: t.eagain,
      eagainSpin: t.eagainSpin,
      current:
        t.alive && t.curNr >= 0
          ? { name: SYSCALLS[t.curNr]?.name ?? `syscall_${t.curNr}`, fd: t.curFd, forNs: Math.max(0, raw.monoNs - t.curSinceNs) }
          : null,
    }));
    const processes = raw.processes.map((p) => {
      if (!p.exited) {
        const c = readCmdline(p.pid);
        if (c) this.cmdlines.set(p.pid, { cmdline: c, execs: p.execs });
      }
      // A process that exec'd since its command line was read, and is gone, ran a program
      // never seen: no name rather than the previous program's.
      const known = this.cmdlines.get(p.pid);
      return {
        pid: p.pid,
        parentPid: p.parentPid,
        execs: p.execs,
        exited: p.exited,
        exitCode: p.exitCode,
        exitSignal: signalName(p.exitSignal),
        coreDumped: p.coreDumped,
        cmdline: known && known.execs === p.execs ? known.cmdline : '',
      };
    });
    const f = raw.threadsFolded;
    return {
      tNs: Math.max(0, raw.monoNs - this.startNs),
      tracees: raw.tracees,
      syscalls,
      fds,
      threads,
      ...(f.threads
        ? { threadsFolded: { ...f, waitNs: byWaitKind(f.waitNs), waitCalls: byWaitKind(f.waitCalls) } }
        : {}),
      processes,
      counters: raw.counters,
      io: { ...raw.io },
      ...(this.name === 'ebpf'
        ? { uringOps: raw.uringOps.map((o) => ({ ...o, name: uringOpName(o.opcode) })) }
        : {}),
    };
  }
}
