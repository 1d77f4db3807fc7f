// SPDX-License-Identifier: MIT
// The figures every part of the classifier reads, computed once from a
// snapshot window and the /proc picture: sums per class, who waits where,
// what the descriptors are.
import { SYSCALL_BY_NAME, type SyscallClass } from '../gen/syscalls';
import type { Inspection } from '../inspection';
import { WAIT_KINDS, type FdType, type IoStats, type Snapshot, type UringOpStat, type WaitKind } from '../snapshot';
import { uringOpKind, type UringOpKind } from '../uring-ops';

export const SOCKET_TYPES: ReadonlySet<FdType> = new Set(['tcp', 'tcp6', 'udp', 'udp6', 'unix', 'socket']);

/** The kinds that make a thread an event loop: it sleeps in a multiplexer, a signal wait or a completion wait. */
export const LOOP_KINDS = ['select', 'poll', 'epoll', 'signal', 'uring', 'aio'] as const;
export type LoopKind = (typeof LOOP_KINDS)[number];

export function kindOfClass(cls: SyscallClass): WaitKind | null {
  switch (cls) {
    case 'wait.select': return 'select';
    case 'wait.poll': return 'poll';
    case 'wait.epoll': return 'epoll';
    case 'wait.signal': return 'signal';
    case 'aio.uring': return 'uring';
    case 'aio.linux': return 'aio';
    case 'data.read': case 'data.write': case 'data.sendfile': case 'data.splice': case 'data.copy_file_range':
    case 'net.accept': case 'net.setup':
      return 'io';
    case 'sleep': case 'sync': return 'sleep';
    default: return null;
  }
}

export interface ThreadFacts {
  pid: number;
  tid: number;
  ns: Record<WaitKind, number>;
  calls: Record<WaitKind, number>;
  /** What it is blocked in now, if anything (counted in ns/calls above). */
  current: { name: string; fd: number; forNs: number; kind: WaitKind | null } | null;
  eagain: number;
  spins: number;
  /** Syscall time not spent in loop waits or sleeps: a spinning thread's cost. */
  otherNs: number;
}

/**
 * io_uring opcodes whose fd is a socket by definition: their bytes are socket
 * bytes and a recv that completes is an exchange. read/write/readv/… take any
 * fd, and the tracepoints do not say which: their bytes count as data only.
 */
const URING_SOCKET_IN: ReadonlySet<string> = new Set(['recv', 'recvmsg']);
const URING_SOCKET_OUT: ReadonlySet<string> = new Set(['send', 'sendmsg', 'send_zc', 'sendmsg_zc']);

/** One io_uring opcode in the window (eBPF backend). */
export interface UringOpFacts {
  name: string;
  kind: UringOpKind;
  submitted: number;
  completions: number;
  errors: number;
  bytes: number;
}

/** What the rings did, summed from the io_uring tracepoints. */
export interface UringFacts {
  ops: UringOpFacts[];
  submitted: number;
  completions: number;
  /** Completed accept CQEs: connections (a multishot accept posts one per connection). */
  accepts: number;
  /** recv/recvmsg CQEs that did not fail; the one reading EOF at a close counts too (the result is not kept). */
  exchanges: number;
  socketIn: number;
  socketOut: number;
  /** Bytes of read/write-kind ops on fds of unknown type (read, write, readv…): data, not socket bytes. */
  anyFdBytes: number;
  /** Requests the probes could not follow (their in-flight map was full): missing from the figures above. */
  overflow: number;
}

export interface Facts {
  windowSec: number;
  hasTrace: boolean;
  hasInspection: boolean;
  byClass: Map<SyscallClass, { calls: number; errors: number; eagain: number; spins: number; bytes: number; ready: number; watched: number; maxWatched: number; totalNs: number }>;
  byName: Map<string, { calls: number; errors: number; eagain: number; spins: number; bytes: number; errnos: Record<string, number> }>;
  totalCalls: number;
  threads: ThreadFacts[];
  io: IoStats | null;
  accepts: number;
  connects: number;
  forks: number;
  clones: number;
  signals: number;
  /** Socket bytes in and out, reads that returned data on sockets, bytes read from regular files. */
  socketIn: number;
  socketOut: number;
  exchanges: number;
  fileIn: number;
  listening: number;
  /** io_uring requests by opcode: null when not traced (ptrace, older recordings). Accepts, exchanges and socket bytes above include them. */
  uring: UringFacts | null;
  inspection: Inspection | null;
}

const zeroKinds = (): Record<WaitKind, number> => Object.fromEntries(WAIT_KINDS.map((k) => [k, 0])) as Record<WaitKind, number>;

function emptyClass(): Facts['byClass'] extends Map<SyscallClass, infer V> ? V : never {
  return { calls: 0, errors: 0, eagain: 0, spins: 0, bytes: 0, ready: 0, watched: 0, maxWatched: 0, totalNs: 0 };
}

function uringFacts(stats: readonly UringOpStat[], overflow = 0): UringFacts {
  const u: UringFacts = { ops: [], submitted: 0, completions: 0, accepts: 0, exchanges: 0, socketIn: 0, socketOut: 0, anyFdBytes: 0, overflow };
  for (const o of stats) {
    const kind = uringOpKind(o.name);
    u.ops.push({ name: o.name, kind, submitted: o.submitted, completions: o.completions, errors: o.errors, bytes: o.bytes });
    u.submitted += o.submitted;
    u.completions += o.completions;
    const done = Math.max(0, o.completions - o.errors);
    if (kind === 'accept') u.accepts += done;
    if (URING_SOCKET_IN.has(o.name)) {
      u.exchanges += done;
      u.socketIn += o.bytes;
    } else if (URING_SOCKET_OUT.has(o.name)) {
      u.socketOut += o.bytes;
    } else if (kind === 'read' || kind === 'write') {
      u.anyFdBytes += o.bytes;
    }
  }
  u.ops.sort((a, b) => b.bytes - a.bytes || b.submitted - a.submitted);
  return u;
}

export function gatherFacts(window: Snapshot | null, inspection: Inspection | null): Facts {
  const byClass: Facts['byClass'] = new Map();
  const byName: Facts['byName'] = new Map();
  let totalCalls = 0;
  for (const s of window?.syscalls ?? []) {
    const c = byClass.get(s.cls) ?? emptyClass();
    c.calls += s.calls;
    c.errors += s.errors;
    c.eagain += s.eagain;
    c.spins += s.eagainSpin ?? 0;
    c.bytes += s.bytes;
    c.ready += s.ready;
    c.watched += s.watched;
    c.maxWatched = Math.max(c.maxWatched, s.maxWatched ?? 0);
    c.totalNs += s.totalNs;
    byClass.set(s.cls, c);
    byName.set(s.name, { calls: s.calls, errors: s.errors, eagain: s.eagain, spins: s.eagainSpin ?? 0, bytes: s.bytes, errnos: s.errnos });
    totalCalls += s.calls;
  }
  const windowNs = window?.tNs ?? 0;

  const threads: ThreadFacts[] = [];
  // A ring's SQPOLL thread is the kernel's: it makes no syscall, yet once idle
  // its /proc/<tid>/syscall shows the io_uring_setup it was created in (425),
  // which would make it a thread waiting in io_uring for the whole window.
  const sqThreads = new Set((inspection?.processes ?? []).flatMap((p) => p.ioUring.flatMap((r) => (r.sqThread === null ? [] : [r.sqThread]))));
  if (window) {
    for (const t of window.threads) {
      if (sqThreads.has(t.tid) && t.calls === 0) continue;
      const ns = { ...zeroKinds(), ...(t.waitNs ?? {}) };
      const calls = { ...zeroKinds(), ...(t.waitCalls ?? {}) };
      let current: ThreadFacts['current'] = null;
      if (t.current) {
        const desc = SYSCALL_BY_NAME.get(t.current.name);
        const kind = desc ? kindOfClass(desc.cls) : null;
        current = { ...t.current, kind };
        // A call still in flight is waiting too; the window holds at most its own length of it.
        if (kind) {
          ns[kind] += Math.min(t.current.forNs, windowNs || t.current.forNs);
          calls[kind] += 1;
        }
      }
      let loopAndSleepNs = ns.sleep;
      for (const k of LOOP_KINDS) loopAndSleepNs += ns[k];
      threads.push({ pid: t.pid, tid: t.tid, ns, calls, current, eagain: t.eagain ?? 0, spins: t.eagainSpin ?? 0, otherNs: Math.max(0, t.totalNs - loopAndSleepNs) });
    }
  } else if (inspection) {
    // The /proc picture alone: where each thread sits now, with no times.
    for (const p of inspection.processes) {
      for (const t of p.threads) {
        if (sqThreads.has(t.tid)) continue;
        const desc = t.syscall ? SYSCALL_BY_NAME.get(t.syscall.name) : undefined;
        const kind = desc ? kindOfClass(desc.cls) : null;
        const ns = zeroKinds();
        const calls = zeroKinds();
        if (kind) calls[kind] = 1;
        threads.push({
          pid: p.pid, tid: t.tid, ns, calls, eagain: 0, spins: 0, otherNs: 0,
          current: t.syscall ? { name: t.syscall.name, fd: t.syscall.fd ?? -1, forNs: 0, kind } : null,
        });
      }
    }
  }

  let socketIn = 0;
  let socketOut = 0;
  let exchanges = 0;
  let fileIn = 0;
  let listening = 0;
  for (const f of window?.fds ?? []) {
    if (SOCKET_TYPES.has(f.type)) {
      socketIn += f.bytesIn;
      socketOut += f.bytesOut;
      exchanges += f.reads ?? 0;
      if (f.desc.endsWith('(listening)')) listening++;
    } else if (f.type === 'file') {
      fileIn += f.bytesIn;
    }
  }
  for (const p of inspection?.processes ?? []) {
    for (const f of p.fds) if (f.desc.endsWith('(listening)')) listening++;
  }
  const acc = byClass.get('net.accept');
  const connect = byName.get('connect');
  const uring = window?.uringOps ? uringFacts(window.uringOps, window.counters.uringOverflow ?? 0) : null;
  return {
    windowSec: windowNs / 1e9,
    hasTrace: window !== null,
    hasInspection: inspection !== null,
    byClass,
    byName,
    totalCalls,
    threads,
    io: window?.io ?? null,
    accepts: (acc ? acc.calls - acc.errors : 0) + (uring?.accepts ?? 0),
    connects: connect ? connect.calls - connect.errors + (connect.errnos.EINPROGRESS ?? 0) : 0,
    forks: window?.counters.forks ?? 0,
    clones: window?.counters.clones ?? 0,
    signals: window?.counters.signals ?? 0,
    socketIn: socketIn + (uring?.socketIn ?? 0),
    socketOut: socketOut + (uring?.socketOut ?? 0),
    exchanges: exchanges + (uring?.exchanges ?? 0),
    fileIn,
    listening,
    uring,
    inspection,
  };
}

export function classFigure(f: Facts, cls: SyscallClass): ReturnType<typeof emptyClass> {
  return f.byClass.get(cls) ?? emptyClass();
}

/** "1.3", "12", "1,234": figures as people read them in evidence lines. */
export function fig(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1).replace(/\.0$/, '');
  return n.toFixed(2).replace(/\.?0+$/, '') || '0';
}

export const pct = (share: number): string => `${Math.round(share * 100)}%`;

/** "512 B", "12 KiB", "1.2 MiB": byte counts in evidence lines. */
export function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? Math.round(v) : fig(v)} ${units[u]}`;
}
