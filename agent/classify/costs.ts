// SPDX-License-Identifier: MIT
// What the I/O costs: multiplexer efficiency, busy polling, io_uring set-up,
// and syscalls, mode switches and CPU copies per request and per KiB.
import { classFigure, type Facts } from './facts';
import { dataBytes } from './data';
import { uringSqpoll } from './wait';
import type { BusyPollStats, Costs, MultiplexerStats, UringStats } from './vocabulary';

export const FD_SETSIZE = 1024;

/** Registered fds of all epoll instances: seen in /proc, plus traced ADDs less DELs. */
export function epollRegistrations(f: Facts): number | null {
  const inspected = f.inspection ? f.inspection.processes.reduce((n, p) => n + p.epoll.reduce((m, e) => m + e.count, 0), 0) : null;
  const traced = f.io ? f.io.epollCtlAdd - f.io.epollCtlDel : null;
  if (inspected !== null) return Math.max(0, inspected + (f.hasTrace && traced !== null ? Math.max(0, traced) : 0));
  return traced !== null && traced > 0 ? traced : null;
}

export function multiplexerStats(f: Facts): MultiplexerStats[] {
  const out: MultiplexerStats[] = [];
  for (const label of ['select', 'poll', 'epoll'] as const) {
    const c = classFigure(f, `wait.${label}`);
    if (c.calls === 0) continue;
    const done = c.calls - c.errors;
    const m: MultiplexerStats = {
      label,
      calls: c.calls,
      wakeupsPerSec: f.windowSec > 0 ? c.calls / f.windowSec : 0,
      watchedPerCall: label === 'epoll' ? epollRegistrations(f) : c.watched / c.calls,
      readyPerCall: done > 0 ? c.ready / done : 0,
    };
    if (label === 'select') {
      m.maxFd = c.maxWatched - 1;
      m.fdSetSize = FD_SETSIZE;
    }
    out.push(m);
  }
  return out;
}

export function busyPollStats(f: Facts): BusyPollStats {
  let ioCalls = 0;
  let eagain = 0;
  let spins = 0;
  for (const cls of ['data.read', 'data.write', 'net.accept'] as const) {
    const c = classFigure(f, cls);
    ioCalls += c.calls;
    eagain += c.eagain;
    spins += c.spins;
  }
  return { ioCalls, eagain, spins, share: ioCalls ? spins / ioCalls : 0 };
}

const URING_FLAGS: Array<[number, string]> = [
  [1 << 0, 'IOPOLL'], [1 << 1, 'SQPOLL'], [1 << 2, 'SQ_AFF'], [1 << 3, 'CQSIZE'], [1 << 4, 'CLAMP'],
  [1 << 5, 'ATTACH_WQ'], [1 << 6, 'R_DISABLED'], [1 << 7, 'SUBMIT_ALL'], [1 << 8, 'COOP_TASKRUN'],
  [1 << 9, 'TASKRUN_FLAG'], [1 << 10, 'SQE128'], [1 << 11, 'CQE32'], [1 << 12, 'SINGLE_ISSUER'],
  [1 << 13, 'DEFER_TASKRUN'], [1 << 14, 'NO_MMAP'], [1 << 15, 'REGISTERED_FD_ONLY'], [1 << 16, 'NO_SQARRAY'],
];

export function uringStats(f: Facts): UringStats | null {
  const rings = (f.inspection?.processes ?? []).reduce((n, p) => n + p.ioUring.length, 0);
  const enter = f.byName.get('io_uring_enter');
  const setups = f.io?.uringSetups ?? 0;
  const sq = uringSqpoll(f);
  if (!rings && !enter && !setups && sq === null && !f.uring?.submitted) return null;
  const flags = f.io?.uringSetupFlags ?? 0;
  const enterCalls = enter?.calls ?? 0;
  return {
    rings: Math.max(rings, setups),
    sqpoll: sq !== null,
    setupFlags: URING_FLAGS.filter(([bit]) => flags & bit).map(([, name]) => name),
    enterCalls,
    submittedPerEnter: enterCalls && f.io ? f.io.uringSubmitted / enterCalls : null,
    sqThreads: sq ?? [],
    ...(f.uring ? { requests: f.uring.submitted, completions: f.uring.completions } : {}),
  };
}

/** io_uring requests whose completion moved bytes by a CPU copy: the read/write-kind ops' successful CQEs. */
function uringCopyOps(f: Facts): number {
  return (f.uring?.ops ?? []).filter((o) => o.kind === 'read' || o.kind === 'write').reduce((n, o) => n + Math.max(0, o.completions - o.errors), 0);
}

export function costs(f: Facts): Costs {
  const b = dataBytes(f);
  const requests = Math.max(f.accepts, f.exchanges);
  const requestBasis = requests === 0 ? 'none' : f.exchanges >= f.accepts ? 'exchanges' : 'accepts';
  // A CPU copy per byte for read/write, sendfile's page-cache-to-socket copy
  // (none with scatter-gather DMA: loopback has none) and copy_file_range's
  // in-kernel copy; splice moves pages.
  const copiedBytes = b.copy + b.mmap + b.sendfile + b.copy_file_range;
  let copyOps = uringCopyOps(f);
  for (const cls of ['data.read', 'data.write', 'data.sendfile', 'data.copy_file_range'] as const) {
    const c = classFigure(f, cls);
    copyOps += c.calls - c.errors;
  }
  // A ring's requests are no syscalls and cost no mode switch of their own:
  // syscalls stay syscalls (io_uring_enter), and the SQEs are counted beside
  // them, so a ring's saving shows instead of being hidden in a sum. Given
  // only where a ring was used: an epoll server's "0 io_uring requests" is noise.
  const sqes = f.uring?.submitted ? f.uring.submitted : null;
  const kib = f.socketOut / 1024;
  return {
    requests,
    requestBasis,
    accepts: f.accepts,
    exchanges: f.exchanges,
    perRequest: requests
      ? {
        syscalls: f.totalCalls / requests, modeSwitches: (2 * f.totalCalls) / requests, cpuCopies: copyOps / requests, bytesCopied: (b.copy + b.mmap) / requests,
        ...(sqes !== null ? { uringRequests: sqes / requests } : {}),
      }
      : null,
    perKiB: kib >= 1
      ? { syscalls: f.totalCalls / kib, modeSwitches: (2 * f.totalCalls) / kib, ...(sqes !== null ? { uringRequests: sqes / kib } : {}) }
      : null,
    copiesPerByte: f.socketOut > 0 ? copiedBytes / f.socketOut : null,
    bytesCopied: b.copy + b.mmap,
    bytesNoUserCopy: b.sendfile + b.splice + b.copy_file_range + b.msg_zerocopy,
    bytesSent: f.socketOut,
  };
}
