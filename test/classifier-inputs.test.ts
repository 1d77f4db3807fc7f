// SPDX-License-Identifier: MIT
// The classifier's inputs are measured exactly: io-setup (test/workloads/io-setup.c) sets
// its I/O up in known ways, and the last snapshot of a recording of it has the figures it
// reports: struct io_stat (epoll_ctl flags, io_uring and AIO submissions, file mmaps,
// MSG_ZEROCOPY sends, O_NONBLOCK/O_ASYNC/F_SETOWN/F_SETSIG), per-thread time and calls by
// kind of waiting, EAGAIN spins, largest nfds/maxevents, reads per descriptor; in run mode
// (seccomp filter and --all-syscalls) and after an attach. The summary does not carry these
// figures (yet), so they are read from the recording's last snapshot.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { kindOfClass } from '../agent/classify/facts';
import type { IoStats, Snapshot, SyscallStat, WaitKind } from '../agent/snapshot';
import { WAIT_KINDS } from '../agent/snapshot';
import { iotrace, iotraceDone, killAll, start, WORKLOADS } from './harness';

const IO_SETUP = path.join(WORKLOADS, 'io-setup');
const TIMEOUT_MS = 30_000;
const SPINS = 40;
/** IORING_SETUP_SQPOLL (include/uapi/linux/io_uring.h). */
const IORING_SETUP_SQPOLL = 2;

/** io-setup's last stdout line: what it did. */
interface Result {
  pid: number;
  spins: number;
  eagains: number;
  selectNfds: number;
  epollEt: number;
  epollPlain: number;
  epollMaxevents: number;
  fileLen: number;
  /** 0, or -errno of the PROT_EXEC mapping (a noexec /tmp): not counted either way. */
  execMap: number;
  ringMmaps: number;
  ringMmapBytes: number;
  /** 0, or -errno of setsockopt(SO_ZEROCOPY). */
  zcOpt: number;
  /** The returns of the MSG_ZEROCOPY sendto and sendmsg, -errno on failure. */
  zc1: number;
  zc2: number;
  tcpReads: number;
  tcpBytes: number;
  uringSubmitted: number;
  pairReads: number;
  fds: { pair: number; spin: number; file: number; tcp: number };
}

function resultIn(text: string): Result {
  const m = /^\{"pid":\d+,"spins".*\}$/m.exec(text);
  assert.ok(m, `no io-setup result line in:\n${text}`);
  return JSON.parse(m[0]) as Result;
}

/** The last snapshot line of a recording: the session's final figures. */
function lastSnapshot(file: string): Snapshot {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; snapshot?: Snapshot });
  const snaps = lines.filter((l) => l.type === 'snapshot');
  assert.ok(snaps.length > 0, `no snapshot line in ${file}`);
  return snaps[snaps.length - 1].snapshot as Snapshot;
}

/** What io_stat must hold, from what io-setup says it did. */
function expectedIo(r: Result): IoStats {
  const zc = [r.zc1, r.zc2].filter((n) => n >= 0);
  return {
    // EPOLL_ET ADDs with EPOLLET, EPOLL_PLAIN without (one EPOLLEXCLUSIVE); one MOD to
    // EPOLLIN|EPOLLONESHOT; one DEL; a failed ADD (EEXIST) is not counted.
    epollCtlAdd: r.epollEt + r.epollPlain,
    epollCtlMod: 1,
    epollCtlDel: 1,
    epollCtlEt: r.epollEt,
    epollCtlOneshot: 1,
    epollCtlExclusive: 1,
    epollCtlUnread: 0,
    // A ring with flags 0 (one NOP submitted), one with SQPOLL.
    uringSetups: 2,
    uringSetupFlags: IORING_SETUP_SQPOLL,
    uringSqpoll: 1,
    uringSubmitted: r.uringSubmitted,
    aioSubmitted: 1,
    // The shared mapping of the file only: not the private one, nor the
    // io_uring rings (MAP_SHARED, but of an anon inode, not a regular file).
    mmapFile: 1,
    mmapFileBytes: r.fileLen,
    zerocopySends: zc.length,
    zerocopyBytes: zc.reduce((a, b) => a + b, 0),
    // socket(SOCK_NONBLOCK), accept4(SOCK_NONBLOCK), fcntl(F_SETFL, O_NONBLOCK|O_ASYNC),
    // ioctl(FIONBIO, 1); not ioctl(FIONBIO, 0) nor the failed one.
    nonblockSets: 4,
    // The same fcntl, ioctl(FIOASYNC, 1); not ioctl(FIOASYNC, 0).
    asyncSets: 2,
    setown: 2, // F_SETOWN, F_SETOWN_EX
    setsig: 1, // F_SETSIG SIGIO; not F_SETSIG 0
  };
}

function sys(snap: Snapshot, name: string): SyscallStat {
  const s = snap.syscalls.find((x) => x.name === name);
  assert.ok(s, `${name} missing from the snapshot; it has ${snap.syscalls.map((x) => x.name).join(', ')}`);
  return s;
}

/**
 * Everything io-setup did is in the snapshot. mode says what stops: under the seccomp
 * filter sync and sleep calls do not, so the sleep kind stays 0 there.
 */
function assertFigures(label: string, snap: Snapshot, r: Result, mode: 'seccomp' | 'all-syscalls' | 'attach'): void {
  assert.ok(snap.io, `${label}: the snapshot has no io`);
  assert.deepEqual(snap.io, expectedIo(r), `${label}: io_stat`);

  // Largest nfds/maxevents: select's nfds (highest fd + 1), epoll_wait's maxevents, poll's nfds.
  assert.equal(sys(snap, 'select').maxWatched, r.selectNfds, `${label}: select maxWatched`);
  assert.equal(sys(snap, 'epoll_wait').maxWatched, r.epollMaxevents, `${label}: epoll_wait maxWatched`);
  assert.equal(sys(snap, 'poll').maxWatched, 1, `${label}: poll maxWatched`);

  // EAGAIN: M recvfrom in a row (M-1 spins), a poll, one more (not a spin); nothing else.
  const recv = sys(snap, 'recvfrom');
  assert.equal(recv.eagain, r.eagains, `${label}: recvfrom eagain`);
  assert.equal(recv.eagainSpin, r.spins - 1, `${label}: recvfrom eagainSpin`);
  for (const s of snap.syscalls) if (s.name !== 'recvfrom') assert.equal(s.eagainSpin, 0, `${label}: ${s.name} eagainSpin`);

  const threads = snap.threads.filter((t) => t.pid === r.pid);
  assert.equal(threads.length, 1, `${label}: io-setup is one thread (the SQPOLL thread is the kernel's): ${JSON.stringify(snap.threads)}`);
  const t = threads[0];
  assert.equal(t.eagain, r.eagains, `${label}: thread eagain`);
  assert.equal(t.eagainSpin, r.spins - 1, `${label}: thread eagainSpin`);
  assert.deepEqual(Object.keys(t.waitNs), [...WAIT_KINDS]);
  assert.deepEqual(Object.keys(t.waitCalls), [...WAIT_KINDS]);

  // The kinds io-setup uses a known number of times.
  assert.equal(t.waitCalls.select, 1, `${label}: select calls`);
  assert.equal(t.waitCalls.poll, 1, `${label}: poll calls`);
  assert.equal(t.waitCalls.epoll, 1, `${label}: epoll calls`);
  assert.equal(t.waitCalls.uring, 3, `${label}: uring calls (2 io_uring_setup, 1 io_uring_enter)`);
  assert.equal(t.waitCalls.aio, 4, `${label}: aio calls (io_setup, io_submit, io_getevents, io_destroy)`);
  if (mode === 'seccomp') {
    assert.equal(t.waitCalls.sleep, 0, `${label}: sleep and sync calls do not stop under the seccomp filter`);
    assert.equal(t.waitCalls.signal, 0, `${label}: signal calls`);
  } else {
    assert.ok(t.waitCalls.sleep >= 1, `${label}: the nanosleep is a sleep`);
    // The attach interrupts sigwaitinfo; whether it is called again depends on timing (see exactness.test.ts).
    assert.ok(t.waitCalls.signal <= (mode === 'attach' ? 1 : 0), `${label}: signal calls ${t.waitCalls.signal}`);
  }

  // One thread: every kind's calls and time are those of its syscalls in the snapshot;
  // io is the data/accept/setup calls that did not fail with EAGAIN.
  const calls = Object.fromEntries(WAIT_KINDS.map((k) => [k, 0])) as Record<WaitKind, number>;
  const ns = Object.fromEntries(WAIT_KINDS.map((k) => [k, 0])) as Record<WaitKind, number>;
  let ioEagainNs = 0;
  for (const s of snap.syscalls) {
    // The agent's own class-to-kind table: the native one must agree with it.
    const k = kindOfClass(s.cls);
    if (k === null) continue;
    if (k === 'io') {
      calls.io += s.calls - s.eagain;
      ns.io += s.totalNs;
      if (s.eagain) ioEagainNs += s.totalNs;
      continue;
    }
    calls[k] += s.calls;
    ns[k] += s.totalNs;
  }
  assert.deepEqual(t.waitCalls, calls, `${label}: waitCalls against the syscall table`);
  for (const k of WAIT_KINDS) {
    if (k === 'io') continue;
    assert.equal(t.waitNs[k], ns[k], `${label}: waitNs.${k} against the syscall table`);
  }
  // io's time leaves out the EAGAIN calls' time (only recvfrom has any; its successful
  // calls are in io): between the total without recvfrom and the total with it.
  assert.ok(t.waitNs.io <= ns.io && t.waitNs.io >= ns.io - ioEagainNs, `${label}: waitNs.io ${t.waitNs.io} not in [${ns.io - ioEagainNs}, ${ns.io}]`);
  assert.ok(Object.values(t.waitNs).reduce((a, b) => a + b, 0) <= t.totalNs, `${label}: waitNs adds up to more than the thread's time`);

  // Reads that returned data, per descriptor.
  const fd = (n: number) => {
    const f = snap.fds.find((x) => x.pid === r.pid && x.fd === n);
    assert.ok(f, `${label}: fd ${n} missing from ${JSON.stringify(snap.fds)}`);
    return f;
  };
  assert.equal(fd(r.fds.pair).reads, r.pairReads, `${label}: socketpair reads (100, 200, 300 bytes; the read at EOF is not one)`);
  assert.equal(fd(r.fds.pair).bytesIn, 600);
  assert.equal(fd(r.fds.tcp).reads, r.tcpReads, `${label}: TCP reads`);
  assert.equal(fd(r.fds.tcp).bytesIn, r.tcpBytes);
  assert.equal(fd(r.fds.file).reads, 1, `${label}: one pread of the file (the AIO read is no syscall read)`);
  assert.equal(fd(r.fds.spin).reads, 0, `${label}: EAGAIN returns no data`);
  assert.equal(fd(r.fds.spin).errors, r.eagains);
  assert.equal(snap.fds.filter((f) => f.pid === r.pid).reduce((a, f) => a + f.reads, 0), r.pairReads + r.tcpReads + 1, `${label}: no other fd has reads`);
}

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-classifier-inputs-'));
});
afterEach(killAll);
after(() => {
  killAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('classifier inputs', () => {
  const RUNS = [
    { mode: 'seccomp', text: 'ptrace with the seccomp filter', flags: ['--backend', 'ptrace'] },
    { mode: 'all-syscalls', text: 'ptrace with --all-syscalls', flags: ['--backend', 'ptrace', '--all-syscalls'] },
    { mode: 'all-syscalls', text: 'eBPF', flags: ['--backend', 'ebpf'] },
  ] as const;
  for (const { mode, text, flags } of RUNS) {
    it(`run under ${text} measures io-setup's set-up exactly`, async (t) => {
      const rec = path.join(dir, `run-${flags.join('')}.jsonl`);
      const res = await iotraceDone(['run', '--json', '--record', rec, ...flags, '--', IO_SETUP, '--now', '--spins', String(SPINS)], TIMEOUT_MS);
      assert.equal(res.code, 0, `iotrace run failed:\n${res.stderr}`);
      // With --json the command's stdout goes to iotrace's stderr.
      const r = resultIn(res.stderr);
      assert.equal(r.spins, SPINS);
      if (r.zcOpt !== 0 || r.zc1 < 0 || r.zc2 < 0) t.diagnostic(`MSG_ZEROCOPY: setsockopt ${r.zcOpt}, sends ${r.zc1}, ${r.zc2}`);
      const summary = JSON.parse(res.stdout) as { endReason: string; exit: unknown };
      assert.equal(summary.endReason, 'target-exit');
      assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false });
      assertFigures(`run ${text}`, lastSnapshot(rec), r, mode);
    });
  }

  for (const backend of ['ptrace', 'ebpf'] as const) {
  it(`attach (${backend}) measures what io-setup does after the attach exactly`, async (t) => {
    const rec = path.join(dir, `attach-${backend}.jsonl`);
    const target = start(IO_SETUP, ['--spins', String(SPINS)]);
    const ready = JSON.parse((await target.waitFor(/^\{"pid":\d+,"ready":1\}$/m))[0]) as { pid: number };
    assert.equal(ready.pid, target.pid);
    const tracer = iotrace(['attach', String(target.pid), '--json', '--no-ui', '--record', rec, '--backend', backend]);
    await tracer.waitFor(/iotrace: attached to pid (\d+)/);
    // io-setup waits in sigwaitinfo for this; everything it measures comes after.
    process.kill(target.pid, 'SIGUSR1');
    const [tracerExit, targetExit] = await Promise.all([tracer.exited(TIMEOUT_MS), target.exited(TIMEOUT_MS)]);
    assert.deepEqual(targetExit, { code: 0, signal: null }, target.stderr());
    assert.deepEqual(tracerExit, { code: 0, signal: null }, `iotrace attach failed:\n${tracer.stderr()}`);
    const r = resultIn(target.stdout());
    if (r.zcOpt !== 0 || r.zc1 < 0 || r.zc2 < 0) t.diagnostic(`MSG_ZEROCOPY: setsockopt ${r.zcOpt}, sends ${r.zc1}, ${r.zc2}`);
    const summary = JSON.parse(tracer.stdout()) as { endReason: string; counters: { unmatchedExits: number } };
    assert.equal(summary.endReason, 'target-exit');
    // The sigwaitinfo the attach interrupted (ptrace) or found in progress (eBPF): its exit is seen, not its entry.
    assert.ok(summary.counters.unmatchedExits <= 1);
    assertFigures(`attach ${backend}`, lastSnapshot(rec), r, 'attach');
  });
  }
});
