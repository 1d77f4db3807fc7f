// SPDX-License-Identifier: MIT
// The activity between two cumulative snapshots, as a snapshot of its own:
// what the classifier reads for "the last N seconds" or `classify --from --to`.
import {
  WAIT_KINDS,
  type Counters,
  type FdStat,
  type FoldedThreads,
  type IoStats,
  type Snapshot,
  type SyscallStat,
  type ThreadCounters,
  type ThreadStat,
  type UringOpStat,
  type WaitKind,
} from './snapshot';

const sub = (a: number | undefined, b: number | undefined): number => Math.max(0, (a ?? 0) - (b ?? 0));

function subKinds(a: Record<WaitKind, number> | undefined, b: Record<WaitKind, number> | undefined): Record<WaitKind, number> {
  const out = {} as Record<WaitKind, number>;
  for (const k of WAIT_KINDS) out[k] = sub(a?.[k], b?.[k]);
  return out;
}

function subSyscall(c: SyscallStat, p: SyscallStat | undefined): SyscallStat {
  if (!p) return c;
  const errnos: Record<string, number> = {};
  for (const [name, n] of Object.entries(c.errnos)) {
    const d = sub(n, p.errnos[name]);
    if (d) errnos[name] = d;
  }
  return {
    ...c,
    calls: sub(c.calls, p.calls),
    errors: sub(c.errors, p.errors),
    eagain: sub(c.eagain, p.eagain),
    eagainSpin: sub(c.eagainSpin, p.eagainSpin),
    errnos,
    totalNs: sub(c.totalNs, p.totalNs),
    bytes: sub(c.bytes, p.bytes),
    ready: sub(c.ready, p.ready),
    watched: sub(c.watched, p.watched),
    // Maxima cannot be taken apart: the window keeps the session's.
    latLog2: c.latLog2.map((n, i) => sub(n, p.latLog2[i])),
  };
}

function subFd(c: FdStat, p: FdStat | undefined): FdStat {
  if (!p) return c;
  return {
    ...c,
    calls: sub(c.calls, p.calls),
    errors: sub(c.errors, p.errors),
    bytesIn: sub(c.bytesIn, p.bytesIn),
    bytesOut: sub(c.bytesOut, p.bytesOut),
    closes: sub(c.closes, p.closes),
    reads: sub(c.reads, p.reads),
  };
}

/** A thread's (or the folded threads') counters over the window. */
function subCounters<T extends ThreadCounters>(c: T, p: ThreadCounters): T {
  return {
    ...c,
    calls: sub(c.calls, p.calls),
    totalNs: sub(c.totalNs, p.totalNs),
    bytesIn: sub(c.bytesIn, p.bytesIn),
    bytesOut: sub(c.bytesOut, p.bytesOut),
    waitNs: subKinds(c.waitNs, p.waitNs),
    waitCalls: subKinds(c.waitCalls, p.waitCalls),
    eagain: sub(c.eagain, p.eagain),
    eagainSpin: sub(c.eagainSpin, p.eagainSpin),
  };
}

function subThread(c: ThreadStat, p: ThreadStat | undefined): ThreadStat {
  return p ? subCounters(c, p) : c;
}

function subFolded(c: FoldedThreads | undefined, p: FoldedThreads | undefined): FoldedThreads | undefined {
  return c && p ? { ...subCounters(c, p), threads: sub(c.threads, p.threads) } : c;
}

function subUring(c: UringOpStat, p: UringOpStat | undefined): UringOpStat {
  if (!p) return c;
  return {
    ...c,
    submitted: sub(c.submitted, p.submitted),
    completions: sub(c.completions, p.completions),
    errors: sub(c.errors, p.errors),
    eagain: sub(c.eagain, p.eagain),
    bytes: sub(c.bytes, p.bytes),
    totalNs: sub(c.totalNs, p.totalNs),
    latLog2: c.latLog2.map((n, i) => sub(n, p.latLog2[i])),
  };
}

function subIo(c: IoStats | undefined, p: IoStats | undefined): IoStats | undefined {
  if (!c || !p) return c;
  const out = { ...c };
  for (const k of Object.keys(c) as Array<keyof IoStats>) {
    if (k !== 'uringSetupFlags') out[k] = sub(c[k], p[k]);
  }
  return out;
}

/**
 * cur minus prev, field by field; tNs becomes the window's length. Entries
 * that did nothing in the window are dropped, except threads, whose current
 * syscall still says where they wait.
 */
export function windowOf(prev: Snapshot | undefined, cur: Snapshot): Snapshot {
  if (!prev) return cur;
  const sys = new Map(prev.syscalls.map((s) => [s.nr, s]));
  const fds = new Map(prev.fds.map((f) => [`${f.pid}:${f.fd}`, f]));
  const threads = new Map(prev.threads.map((t) => [t.tid, t]));
  const ops = new Map((prev.uringOps ?? []).map((o) => [o.opcode, o]));
  const counters = {} as Counters;
  for (const k of Object.keys(cur.counters) as Array<keyof Counters>) counters[k] = sub(cur.counters[k], prev.counters[k]);
  return {
    tNs: sub(cur.tNs, prev.tNs),
    tracees: cur.tracees,
    syscalls: cur.syscalls.map((s) => subSyscall(s, sys.get(s.nr))).filter((s) => s.calls > 0),
    fds: cur.fds.map((f) => subFd(f, fds.get(`${f.pid}:${f.fd}`))).filter((f) => f.calls > 0),
    threads: cur.threads.map((t) => subThread(t, threads.get(t.tid))).filter((t) => t.calls > 0 || t.current !== null),
    // A thread folded within the window brings its whole count along: the
    // folded sum's delta over-counts by what it did before the window.
    ...(cur.threadsFolded ? { threadsFolded: subFolded(cur.threadsFolded, prev.threadsFolded) } : {}),
    processes: cur.processes,
    counters,
    io: subIo(cur.io, prev.io),
    ...(cur.uringOps
      ? { uringOps: cur.uringOps.map((o) => subUring(o, ops.get(o.opcode))).filter((o) => o.submitted > 0 || o.completions > 0) }
      : {}),
  };
}
