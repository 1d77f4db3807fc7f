// SPDX-License-Identifier: MIT
// The classifier's edge cases on hand-built snapshots whose answer is known by
// construction; the lab and real-server tests check it on real processes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { SYSCALL_BY_NAME } from '../gen/syscalls';
import type { Inspection, InspectedProcess } from '../inspection';
import { WAIT_KINDS, type Counters, type FdStat, type IoStats, type Snapshot, type ThreadStat, type UringOpStat, type WaitKind } from '../snapshot';
import { windowOf } from '../snapshot-window';
import { URING_OP_NAMES } from '../uring-ops';
import { classify } from './index';

type Sys = { calls: number; errors?: number; eagain?: number; eagainSpin?: number; bytes?: number; ready?: number; watched?: number; maxWatched?: number; totalNs?: number };

const kinds = (v: Partial<Record<WaitKind, number>> = {}): Record<WaitKind, number> =>
  Object.fromEntries(WAIT_KINDS.map((k) => [k, v[k] ?? 0])) as Record<WaitKind, number>;

function thread(pid: number, tid: number, o: { ns?: Partial<Record<WaitKind, number>>; calls?: Partial<Record<WaitKind, number>>; eagain?: number; spins?: number; totalNs?: number; current?: ThreadStat['current'] } = {}): ThreadStat {
  const ns = kinds(o.ns);
  const calls = kinds(o.calls);
  const n = Object.values(calls).reduce((a, b) => a + b, 0) + (o.eagain ?? 0);
  return {
    pid, tid, calls: n, totalNs: o.totalNs ?? Object.values(ns).reduce((a, b) => a + b, 0), bytesIn: 0, bytesOut: 0, alive: true,
    waitNs: ns, waitCalls: calls, eagain: o.eagain ?? 0, eagainSpin: o.spins ?? 0, current: o.current ?? null,
  };
}

function fd(pid: number, n: number, type: FdStat['type'], desc: string, o: Partial<FdStat> = {}): FdStat {
  return { pid, fd: n, calls: 1, errors: 0, bytesIn: 0, bytesOut: 0, closes: 0, reads: 0, type, desc, ...o };
}

const ZERO_COUNTERS: Counters = {
  clones: 0, forks: 0, execs: 0, threadExits: 0, signals: 0, groupStops: 0, unmatchedExits: 0,
  foreignArch: 0, unknownNr: 0, fdOverflow: 0, threadOverflow: 0, processOverflow: 0,
};

function io(o: Partial<IoStats> = {}): IoStats {
  return {
    epollCtlAdd: 0, epollCtlMod: 0, epollCtlDel: 0, epollCtlEt: 0, epollCtlOneshot: 0, epollCtlExclusive: 0, epollCtlUnread: 0,
    uringSetups: 0, uringSetupFlags: 0, uringSqpoll: 0, uringSubmitted: 0, aioSubmitted: 0, mmapFile: 0, mmapFileBytes: 0,
    zerocopySends: 0, zerocopyBytes: 0, nonblockSets: 0, asyncSets: 0, setown: 0, setsig: 0, ...o,
  };
}

type Op = Partial<Omit<UringOpStat, 'name' | 'opcode'>>;

/** An io_uring opcode's figures as the eBPF backend reports them; completions default to submitted. */
function uop(name: string, o: Op = {}): UringOpStat {
  const opcode = URING_OP_NAMES.indexOf(name);
  assert.ok(opcode >= 0, `no io_uring opcode ${name}`);
  const submitted = o.submitted ?? 0;
  return { opcode, name, submitted, completions: submitted, errors: 0, eagain: 0, bytes: 0, totalNs: 0, maxNs: 0, latLog2: new Array<number>(32).fill(0), ...o };
}

function snap(o: { sec?: number; sys?: Record<string, Sys>; threads?: ThreadStat[]; fds?: FdStat[]; io?: Partial<IoStats>; counters?: Partial<Counters>; uring?: Record<string, Op> }): Snapshot {
  return {
    ...(o.uring ? { uringOps: Object.entries(o.uring).map(([name, op]) => uop(name, op)) } : {}),
    tNs: (o.sec ?? 10) * 1e9,
    tracees: 1,
    syscalls: Object.entries(o.sys ?? {}).map(([name, s]) => {
      const d = SYSCALL_BY_NAME.get(name);
      assert.ok(d, `no syscall ${name}`);
      return {
        nr: d.nr, name, cls: d.cls, calls: s.calls, errors: s.errors ?? 0, eagain: s.eagain ?? 0, errnos: (s.eagain ? { EAGAIN: s.eagain } : {}) as Record<string, number>,
        totalNs: s.totalNs ?? 0, maxNs: 0, bytes: s.bytes ?? 0, ready: s.ready ?? 0, watched: s.watched ?? 0,
        maxWatched: s.maxWatched ?? 0, eagainSpin: s.eagainSpin ?? 0, latLog2: new Array<number>(32).fill(0),
      };
    }),
    fds: o.fds ?? [],
    threads: o.threads ?? [],
    processes: [],
    counters: { ...ZERO_COUNTERS, ...o.counters },
    io: io(o.io),
  };
}

function proc(o: Partial<InspectedProcess>): InspectedProcess {
  return { pid: 100, parentPid: 0, comm: 'srv', cmdline: 'srv', threads: [], fds: [], fdCount: 0, epoll: [], ioUring: [], ...o };
}

function inspection(...processes: InspectedProcess[]): Inspection {
  return { takenAt: '2026-11-23T00:00:00.000Z', durationMs: 1, processes };
}

const labels = (xs: Array<{ label: string }>): string[] => xs.map((x) => x.label);

describe('classify', () => {
  it('an idle process: idle, and no label is guessed', () => {
    const c = classify({ window: snap({ sys: {} }) });
    assert.equal(c.idle, true);
    assert.deepEqual(labels(c.wait), []);
    assert.deepEqual(labels(c.data), []);
    assert.deepEqual(labels(c.concurrency), []);
    assert.equal(c.epollTrigger, null);
    assert.deepEqual(c.advice, []);
    assert.equal(c.role, 'unknown');
  });

  it('mixed mechanisms (a Node process): epoll on the loop, blocking reads in the pool, largest share first', () => {
    const c = classify({
      window: snap({
        sys: { epoll_wait: { calls: 2000, ready: 2000, totalNs: 8e9 }, read: { calls: 2000, bytes: 200_000 }, write: { calls: 2000, bytes: 200_000 }, pread64: { calls: 400, bytes: 400 * 65536, totalNs: 0.4e9 } },
        threads: [
          thread(100, 100, { ns: { epoll: 8e9, io: 0.1e9 }, calls: { epoll: 2000, io: 4000 } }),
          thread(100, 101, { ns: { io: 0.3e9, sleep: 9e9 }, calls: { io: 300, sleep: 300 } }),
          thread(100, 102, { ns: { io: 0.1e9, sleep: 9e9 }, calls: { io: 100, sleep: 100 } }),
          thread(100, 103, { ns: { sleep: 10e9 }, calls: { sleep: 5 } }),
        ],
        io: { epollCtlAdd: 40 },
        counters: { clones: 4 },
      }),
    });
    assert.deepEqual(labels(c.wait), ['epoll', 'blocking']);
    assert.ok(c.wait[0].share > 0.9 && c.wait[1].share > 0 && c.wait[1].share < 0.1, JSON.stringify(c.wait));
    assert.equal(c.wait[1].threads, 2, 'the two pool threads block; the idle one (futex only) does not count');
    assert.equal(c.epollTrigger?.label, 'level');
    assert.deepEqual(labels(c.concurrency), ['single-thread', 'thread-pool']);
    assert.equal(c.concurrency[1].count, 2);
  });

  it('a select server near FD_SETSIZE: the advice names the watched and ready figures and the limit', () => {
    const c = classify({
      window: snap({
        sys: { select: { calls: 1000, watched: 1000 * 900, maxWatched: 1014, ready: 1300, totalNs: 5e9 }, read: { calls: 1300, bytes: 130_000 }, write: { calls: 1300, bytes: 130_000 }, accept: { calls: 3 } },
        threads: [thread(100, 100, { ns: { select: 5e9 }, calls: { select: 1000, io: 2603 } })],
      }),
    });
    assert.deepEqual(labels(c.wait), ['select']);
    const m = c.multiplexers.find((x) => x.label === 'select');
    assert.equal(m?.watchedPerCall, 900);
    assert.equal(m?.readyPerCall, 1.3);
    assert.equal(m?.maxFd, 1013);
    assert.equal(m?.wakeupsPerSec, 100);
    const text = c.advice.map((a) => a.text).join('\n');
    assert.match(text, /select watches 900 fds per call \(max fd 1013, FD_SETSIZE 1024\) and 1\.3 are ready on average/);
    assert.match(text, /highest fd is 1013, close to FD_SETSIZE 1024/);
    assert.deepEqual(labels(c.concurrency), ['single-thread']);
  });

  it('an SQPOLL io_uring server: no syscalls, yet io_uring and not idle', () => {
    const c = classify({
      window: snap({ sys: {} }),
      inspection: inspection(proc({ ioUring: [{ fd: 4, sqThread: 4242, sqEntries: 64, cqEntries: 128 }] })),
    });
    assert.equal(c.idle, false);
    assert.deepEqual(labels(c.wait), ['io_uring']);
    assert.match(c.wait[0].evidence.join(' '), /SQPOLL ring \(kernel thread 4242\): submissions need no syscall/);
    assert.equal(c.ioUring?.sqpoll, true);
    assert.deepEqual(c.ioUring?.sqThreads, [4242]);
  });

  it('a blocking server with no traffic yet: idle, waiting in accept, a server', () => {
    const c = classify({
      window: snap({
        sec: 5,
        threads: [thread(100, 100, { current: { name: 'accept', fd: 3, forNs: 60e9 } })],
        fds: [fd(100, 3, 'tcp', '127.0.0.1:8080 (listening)')],
      }),
    });
    assert.equal(c.idle, true);
    assert.equal(c.role, 'server');
    assert.deepEqual(labels(c.wait), ['blocking']);
    assert.equal(c.wait[0].waitNs, 5e9, 'an in-flight call counts at most the window');
    assert.equal(c.wait[0].confidence, 'medium');
    assert.match(c.wait[0].evidence.join(' '), /accept on fd 3/);
    assert.deepEqual(labels(c.data), []);
  });

  it('a client, not a server: connects and blocking reads', () => {
    const c = classify({
      window: snap({
        sys: { connect: { calls: 10 }, write: { calls: 10, bytes: 1000 }, read: { calls: 20, bytes: 50_000 } },
        threads: [thread(100, 100, { ns: { io: 1e9 }, calls: { io: 40 } })],
        fds: [fd(100, 3, 'tcp', '127.0.0.1:50000 -> 127.0.0.1:80', { bytesIn: 50_000, bytesOut: 1000, reads: 20 })],
      }),
    });
    assert.equal(c.role, 'client');
    assert.deepEqual(labels(c.wait), ['blocking']);
    assert.deepEqual(labels(c.data), ['copy']);
    assert.deepEqual(labels(c.concurrency), ['single-thread']);
  });

  it('busy polling: EAGAIN spins with no wait, and the advice says so with the figure', () => {
    const c = classify({
      window: snap({
        sys: { recvfrom: { calls: 10_000, errors: 9_000, eagain: 9_000, eagainSpin: 8_200, bytes: 100_000 }, sendto: { calls: 1000, bytes: 100_000 } },
        threads: [thread(100, 100, { ns: { io: 0.2e9 }, calls: { io: 2000 }, eagain: 9000, spins: 8200, totalNs: 2e9 })],
      }),
    });
    assert.deepEqual(labels(c.wait), ['busy-poll']);
    assert.equal(c.busyPoll.spins, 8200);
    assert.match(c.advice.map((a) => a.text).join('\n'), /82% of recvfrom calls returned EAGAIN with no wait in between: the loop is spinning/);
  });

  it('epoll trigger: edge, level or mixed from the EPOLLET share; listening sockets in /proc apart', () => {
    const base = { sys: { epoll_wait: { calls: 100, ready: 100 } }, threads: [thread(100, 100, { ns: { epoll: 1e9 }, calls: { epoll: 100 } })] };
    assert.equal(classify({ window: snap({ ...base, io: { epollCtlAdd: 20, epollCtlEt: 20 } }) }).epollTrigger?.label, 'edge');
    assert.equal(classify({ window: snap({ ...base, io: { epollCtlAdd: 20, epollCtlMod: 80 } }) }).epollTrigger?.label, 'level');
    assert.equal(classify({ window: snap({ ...base, io: { epollCtlAdd: 20, epollCtlEt: 10 } }) }).epollTrigger?.label, 'mixed');
    // nginx: connections with EPOLLET, the listener without; the listener does not make it mixed.
    const ins = inspection(proc({
      fds: [{ fd: 6, type: 'tcp', desc: '127.0.0.1:80 (listening)', flags: 0o4002, nonblock: true, async: false }],
      epoll: [{ fd: 8, count: 1, edge: 0, oneshot: 0, exclusive: 0, registrations: [{ tfd: 6, events: 0x2001, edge: false, oneshot: false, exclusive: false }] }],
    }));
    const t = classify({ window: snap({ ...base, io: { epollCtlAdd: 8, epollCtlEt: 8 } }), inspection: ins }).epollTrigger;
    assert.equal(t?.label, 'edge');
    assert.deepEqual([t?.edge, t?.level], [8, 0]);
  });

  it('data paths by share of bytes: sendfile first, request and header copies minor', () => {
    const c = classify({
      window: snap({
        sys: { sendfile: { calls: 100, bytes: 100 * 65536 }, read: { calls: 100, bytes: 1500 }, write: { calls: 100, bytes: 6000 } },
        fds: [fd(100, 5, 'tcp', 'a -> b', { bytesOut: 100 * 65536 + 6000, reads: 100 })],
      }),
    });
    assert.deepEqual(labels(c.data), ['sendfile', 'copy']);
    assert.equal(c.data[0].minor, false);
    assert.equal(c.data[1].minor, true);
    assert.equal(c.costs.requests, 100);
    assert.equal(c.costs.requestBasis, 'exchanges');
    assert.equal(c.costs.perRequest?.syscalls, 3);
    assert.equal(c.costs.perRequest?.modeSwitches, 6);
    assert.ok(c.costs.copiesPerByte! > 1 && c.costs.copiesPerByte! < 1.01, String(c.costs.copiesPerByte));
  });

  it('read()+write() of a file: 2 CPU copies per byte sent, and the sendfile advice', () => {
    const size = 256 * 1024;
    const c = classify({
      window: snap({
        sys: { read: { calls: 200, bytes: 100 * size + 1000 }, write: { calls: 100, bytes: 100 * size }, epoll_wait: { calls: 100, ready: 100 } },
        threads: [thread(100, 100, { ns: { epoll: 1e9 }, calls: { epoll: 100, io: 300 } })],
        fds: [fd(100, 5, 'tcp', 'a -> b', { bytesIn: 1000, bytesOut: 100 * size, reads: 100 }), fd(100, 6, 'file', '/srv/f', { bytesIn: 100 * size })],
      }),
    });
    assert.deepEqual(labels(c.data), ['copy']);
    assert.ok(Math.abs(c.costs.copiesPerByte! - 2) < 0.01, String(c.costs.copiesPerByte));
    assert.match(c.advice.map((a) => a.text).join('\n'), /file bytes go read\(\)\+write\(\): 2 CPU copies per byte/);
  });

  it('a thread per connection and a process per connection, from clones/forks per accept', () => {
    const t = (pid: number, tid: number): ThreadStat => thread(pid, tid, { ns: { io: 1e9 }, calls: { io: 50 } });
    const threads = classify({ window: snap({ sys: { accept: { calls: 20 }, read: { calls: 500, bytes: 5000 } }, threads: [t(1, 1), t(1, 2), t(1, 3)], counters: { clones: 20 } }) });
    assert.deepEqual(labels(threads.concurrency), ['thread-per-connection']);
    assert.deepEqual(labels(threads.wait), ['blocking']);
    const procs = classify({ window: snap({ sys: { accept: { calls: 20 }, read: { calls: 500, bytes: 5000 } }, threads: [t(1, 1), t(2, 2), t(3, 3)], counters: { forks: 20 } }) });
    assert.deepEqual(labels(procs.concurrency), ['process-per-connection']);
  });

  it('a signal-handling thread is not signal-driven I/O without O_ASYNC and I/O after its waits', () => {
    const threads = [thread(100, 100, { ns: { signal: 9e9 }, calls: { signal: 3 } }), thread(100, 101, { ns: { epoll: 9e9 }, calls: { epoll: 100, io: 100 } })];
    const plain = classify({ window: snap({ sys: { rt_sigtimedwait: { calls: 3 }, epoll_wait: { calls: 100 } }, threads }) });
    assert.deepEqual(labels(plain.wait), ['epoll']);
    assert.match(plain.notes.join(' '), /not signal-driven I\/O/);
    // An nginx master: O_ASYNC on its channel socket, in sigsuspend, serving nothing.
    const master = classify({ window: snap({ sys: { rt_sigtimedwait: { calls: 3 }, epoll_wait: { calls: 100 } }, threads, io: { asyncSets: 4, setsig: 4 } }) });
    assert.deepEqual(labels(master.wait), ['epoll']);
    assert.deepEqual(labels(master.concurrency), ['single-thread']);
    assert.match(master.notes.join(' '), /they do no I\/O after waking/);
    const reader = thread(100, 100, { ns: { signal: 9e9, io: 0.1e9 }, calls: { signal: 300, io: 300 } });
    const sigio = classify({ window: snap({ sys: { rt_sigtimedwait: { calls: 300 }, epoll_wait: { calls: 100 } }, threads: [reader, threads[1]], io: { asyncSets: 4, setsig: 4 } }) });
    assert.deepEqual(labels(sigio.wait).sort(), ['epoll', 'signal-driven']);
  });

  it('from /proc alone: threads blocked in epoll_wait make an epoll loop, registrations give the trigger', () => {
    const c = classify({
      window: null,
      inspection: inspection(proc({
        threads: [{ tid: 100, comm: 'srv', state: 'S', syscall: { nr: 232, name: 'epoll_wait', fd: 4 } }],
        epoll: [{ fd: 4, count: 3, edge: 3, oneshot: 0, exclusive: 0, registrations: [5, 6, 7].map((tfd) => ({ tfd, events: 0x80000001, edge: true, oneshot: false, exclusive: false })) }],
      })),
    });
    assert.deepEqual(c.sources, ['inspect']);
    assert.deepEqual(labels(c.wait), ['epoll']);
    assert.equal(c.wait[0].share, 1);
    assert.equal(c.epollTrigger?.label, 'edge');
  });

  it('a window is the difference of two cumulative snapshots', () => {
    const a = snap({ sec: 10, sys: { read: { calls: 100, bytes: 1000 } }, threads: [thread(1, 1, { ns: { io: 1e9 }, calls: { io: 100 } })], io: { epollCtlAdd: 5 } });
    const b = snap({ sec: 15, sys: { read: { calls: 150, bytes: 1600 } }, threads: [thread(1, 1, { ns: { io: 1.5e9 }, calls: { io: 150 } })], io: { epollCtlAdd: 7, uringSetupFlags: 2 } });
    const w = windowOf(a, b);
    assert.equal(w.tNs, 5e9);
    assert.equal(w.syscalls[0].calls, 50);
    assert.equal(w.syscalls[0].bytes, 600);
    assert.equal(w.threads[0].waitNs.io, 0.5e9);
    assert.equal(w.io?.epollCtlAdd, 2);
    assert.equal(w.io?.uringSetupFlags, 2, 'flags are an OR, not a count');
  });

  describe('io_uring requests from the tracepoints (eBPF backend)', () => {
    // The lab's io_uring echo server: one thread in io_uring_enter, accept,
    // recv and send as SQEs, no I/O syscall at all.
    const MiB = 1024 * 1024;
    const ringServer = (uring: Record<string, Op> | undefined, io: Partial<IoStats> = { uringSetups: 1, uringSubmitted: 20_016 }): Snapshot => snap({
      sec: 2,
      sys: { io_uring_enter: { calls: 2500, totalNs: 1.8e9 } },
      threads: [thread(100, 100, { ns: { uring: 1.8e9 }, calls: { uring: 2500 } })],
      fds: [fd(100, 5, 'io_uring', 'anon_inode:[io_uring]', { calls: 2500 })],
      io,
      uring,
    });
    const echo = { accept: { submitted: 17, completions: 16 }, recv: { submitted: 10_000, bytes: MiB }, send: { submitted: 10_000, bytes: MiB } };

    it('recv/send moved the bytes: copy at high confidence, with the opcodes and their bytes as evidence', () => {
      const c = classify({ window: ringServer(echo) });
      assert.deepEqual(labels(c.data), ['copy']);
      assert.equal(c.data[0].confidence, 'high');
      assert.equal(c.data[0].bytes, 2 * MiB);
      assert.match(c.data[0].evidence.join(' '), /io_uring recv 1 MiB in 10,000 completions, send 1 MiB in 10,000 completions \(from the io_uring tracepoints\)/);
      assert.doesNotMatch(c.data[0].evidence.join(' '), /inferred|read\/write-family calls/);
      assert.equal(c.idle, false);
    });

    it('accept completions are connections and recv completions exchanges: a server, with honest costs per request', () => {
      const c = classify({ window: ringServer(echo) });
      assert.equal(c.role, 'server');
      assert.equal(c.costs.accepts, 16, 'completed accepts; the one still armed is no connection');
      assert.equal(c.costs.exchanges, 10_000);
      assert.equal(c.costs.requestBasis, 'exchanges');
      const r = c.costs.perRequest!;
      assert.equal(r.syscalls, 0.25, 'io_uring_enter calls only: SQEs are no syscalls');
      assert.equal(r.modeSwitches, 0.5);
      assert.equal(r.uringRequests, 2.0017, 'recv + send, and the accepts');
      assert.equal(r.cpuCopies, 2, 'a recv and a send that moved bytes');
      assert.equal(c.costs.bytesSent, MiB);
      assert.equal(c.costs.copiesPerByte, 2);
      assert.equal(c.costs.perKiB?.uringRequests, 20_017 / 1024);
      assert.equal(c.ioUring?.requests, 20_017);
      assert.equal(c.ioUring?.completions, 20_016);
      assert.match(c.wait[0].evidence.join(' '), /20,017 io_uring requests submitted, 20,016 completed \(recv 10,000, send 10,000, accept 17\)/);
      assert.deepEqual(labels(c.concurrency), ['single-thread']);
      assert.equal(c.concurrency[0].confidence, 'high', "the ring's completions are the loop thread's I/O");
    });

    it('send_zc is msg_zerocopy: no CPU copy of the bytes sent', () => {
      const c = classify({ window: ringServer({ recv: { submitted: 100, bytes: 64 * 1024 }, send_zc: { submitted: 100, bytes: 4 * MiB } }) });
      assert.deepEqual(labels(c.data), ['msg_zerocopy', 'copy']);
      assert.equal(c.data[0].confidence, 'high');
      assert.match(c.data[0].evidence.join(' '), /io_uring send_zc 4 MiB in 100 completions \(from the io_uring tracepoints\): sent from pinned user pages/);
      assert.equal(c.data[1].minor, true);
      assert.equal(c.costs.bytesNoUserCopy, 4 * MiB);
      assert.equal(c.costs.copiesPerByte, 1 / 64, 'only the received bytes were copied');
    });

    it('splice and tee are splice', () => {
      const c = classify({ window: ringServer({ splice: { submitted: 200, bytes: 8 * MiB }, tee: { submitted: 10, bytes: MiB } }) });
      assert.deepEqual(labels(c.data), ['splice']);
      assert.equal(c.data[0].bytes, 9 * MiB);
      assert.match(c.data[0].evidence.join(' '), /io_uring splice 8 MiB in 200 completions, tee 1 MiB in 10 completions/);
      assert.equal(c.costs.bytesCopied, 0);
    });

    it('ring bytes and syscall bytes share one data path: each half in its own sentence', () => {
      const s = ringServer({ readv: { submitted: 100, bytes: 3 * MiB } });
      s.syscalls.push(...snap({ sys: { writev: { calls: 100, bytes: 3 * MiB } } }).syscalls);
      const c = classify({ window: s });
      assert.deepEqual(labels(c.data), ['copy']);
      assert.equal(c.data[0].bytes, 6 * MiB);
      assert.match(c.data[0].evidence[0], /3,072 KiB through read\/write-family calls \(read 0 KiB, written 3,072 KiB\)/);
      assert.match(c.data[0].evidence[1], /^io_uring readv 3 MiB/);
      assert.match(c.notes.join(' '), /3 MiB moved by io_uring read\/write requests .* not in socket bytes or exchanges/);
    });

    it('without the tracepoints (ptrace) the data path is still inferred from the submissions, at low confidence', () => {
      const c = classify({ window: ringServer(undefined) });
      assert.deepEqual(labels(c.data), ['copy']);
      assert.equal(c.data[0].confidence, 'low');
      assert.equal(c.data[0].bytes, 0);
      assert.match(c.data[0].evidence.join(' '), /20,016 io_uring submissions and no bytes through syscalls: .*\(inferred, opcodes not seen\)/);
      assert.equal(c.idle, false, 'submissions were seen: I/O, only not its bytes');
      assert.equal(c.costs.perRequest, null);
      assert.equal(c.ioUring?.requests, undefined);
    });

    it('with the tracepoints seen, nothing is inferred: requests that move no bytes make no data path', () => {
      const c = classify({ window: ringServer({ timeout: { submitted: 20 } }) });
      assert.deepEqual(labels(c.data), []);
      assert.equal(c.idle, true);
    });

    it('an epoll server under eBPF (no ring request seen) gets no io_uring figures in its costs', () => {
      const c = classify({
        window: snap({
          sys: { epoll_wait: { calls: 100, ready: 100 }, read: { calls: 100, bytes: 6400 }, write: { calls: 100, bytes: 6400 } },
          threads: [thread(100, 100, { ns: { epoll: 1e9 }, calls: { epoll: 100, io: 200 } })],
          fds: [fd(100, 5, 'tcp', 'a -> b', { bytesIn: 6400, bytesOut: 6400, reads: 100 })],
          uring: {},
        }),
      });
      assert.equal(c.costs.perRequest?.syscalls, 3);
      assert.equal('uringRequests' in c.costs.perRequest!, false);
      assert.equal(c.ioUring, null);
    });

    it("an idle SQPOLL thread, which shows io_uring_setup as its syscall, is the kernel's and waits in nothing", () => {
      const s = ringServer(echo, { uringSetups: 0, uringSqpoll: 1, uringSetupFlags: 2 });
      s.threads.push(thread(100, 101, { current: { name: 'io_uring_setup', fd: -1, forNs: 2e9 } }));
      const c = classify({ window: s, inspection: inspection(proc({ ioUring: [{ fd: 5, sqThread: 101, sqEntries: 64, cqEntries: 128 }] })) });
      assert.deepEqual(labels(c.wait), ['io_uring']);
      assert.equal(c.wait[0].threads, 1);
      assert.equal(c.wait[0].waitNs, 1.8e9);
      assert.deepEqual(c.ioUring?.sqThreads, [101]);
    });
  });

  it('a recording from before the classifier (no io, no wait kinds) still classifies, and says what it cannot know', () => {
    const s = snap({ sys: { epoll_wait: { calls: 10 } } });
    delete s.io;
    const c = classify({ window: s });
    assert.match(c.notes.join(' '), /recorded before the classifier/);
  });
});
