// SPDX-License-Identifier: MIT
// Bounded state under thread churn (docs/limits.md): a target that creates and
// ends thousands of threads is counted as strace -f -c counts it, while the
// summary lists at most 256 ended threads (the rest folded into one sum) and
// its size does not grow with the number of threads the target had.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';

import type { Summary } from '../agent/summary';
import { assertRunningUntraced, iotrace, iotraceDone, killAll, sleep, start, WORKLOADS } from './harness';
import { straceAttach, straceRun, withTimeout, type SyscallCount } from './strace';

const CHURN = path.join(WORKLOADS, 'thread-churn');
/** native/aggregate.h kMaxEndedThreads. */
const MAX_ENDED = 256;
const TIMEOUT_MS = 120_000;
/** The calls thread-churn announces (thread-churn.c); ptrace's seccomp filter stops on read, dup2, close only. */
const ANNOUNCED = { ptrace: ['read', 'dup2'], ebpf: ['getpid', 'read', 'nanosleep', 'dup2'] } as const;
/**
 * futex: whether pthread_join must sleep depends on which thread gets there first.
 * getrandom: malloc's first use, once or twice (see exactness.test.ts).
 * After an attach also rt_sigtimedwait: the attach may wake sigwait (exactness.test.ts).
 */
const RUN_DEPENDENT = new Set(['futex', 'getrandom']);
const ATTACH_DEPENDENT = new Set([...RUN_DEPENDENT, 'rt_sigtimedwait']);

interface Expectation {
  pid: number;
  threads: number;
  fd_numbers: number;
  [syscall: string]: number;
}

function expectationIn(text: string): Expectation {
  const m = /^\{"pid":\d+,"threads".*\}$/m.exec(text);
  assert.ok(m, `no thread-churn expectation line in:\n${text}`);
  return JSON.parse(m[0]) as Expectation;
}

function summaryOf(stdout: string, stderr: string): Summary {
  try {
    return JSON.parse(stdout) as Summary;
  } catch (err) {
    throw new Error(`iotrace --json printed no JSON document (${String(err)})\nstderr: ${stderr}`);
  }
}

function countsOf(s: Summary): Map<string, SyscallCount> {
  return new Map(s.syscalls.map((c) => [c.name, { calls: c.calls, errors: c.errors }]));
}

/** Every syscall iotrace lists has strace's calls and errors, but the excluded ones. */
function assertSameAsStrace(ours: Map<string, SyscallCount>, theirs: Map<string, SyscallCount>, excluded: Set<string>): void {
  const names = [...ours.keys()].filter((n) => !excluded.has(n)).sort();
  const pick = (m: Map<string, SyscallCount>): Record<string, SyscallCount> =>
    Object.fromEntries(names.map((n) => [n, m.get(n) ?? { calls: 0, errors: 0 }]));
  assert.ok(names.length >= 3, `iotrace lists too few syscalls: ${names.join(', ')}`);
  assert.deepEqual(pick(ours), pick(theirs), 'iotrace (actual) and strace -f -c (expected) disagree');
}

/** run: main's getpid for the announcement line is seen too; attach: it came before. */
function assertAnnounced(backend: 'ptrace' | 'ebpf', counts: Map<string, SyscallCount>, e: Expectation, mode: 'run' | 'attach'): void {
  for (const name of ANNOUNCED[backend]) {
    const want = e[name]! + (name === 'getpid' && mode === 'run' ? 1 : 0);
    assert.equal(counts.get(name)?.calls ?? 0, want, `${name}: iotrace vs thread-churn's announcement`);
  }
}

/**
 * The thread table: the live threads and at most MAX_ENDED ended ones besides
 * leaders are listed; everything seen is listed or folded, and the folded sum
 * keeps the calls of the threads it stands for.
 */
function assertThreadTable(s: Summary, seen: number): void {
  const tc = s.threadCounts;
  assert.ok(tc, 'the summary has threadCounts');
  const endedListed = s.threads.filter((t) => !t.alive && t.tid !== t.pid).length;
  assert.ok(endedListed <= MAX_ENDED, `${endedListed} ended threads listed`);
  assert.equal(tc.seen, seen, `threads seen: ${JSON.stringify(tc)}`);
  assert.equal(tc.seen, s.threads.length + tc.folded);
  assert.equal(tc.folded, s.threadsFolded?.threads ?? 0);
  const listedCalls = s.threads.reduce((n, t) => n + t.calls, 0);
  assert.equal(listedCalls + (s.threadsFolded?.calls ?? 0), s.totals.calls, 'every call is in a listed thread or the folded sum');
  assert.equal(s.counters.threadOverflow, 0);
}

describe('bounded state under thread churn', () => {
  afterEach(killAll);
  after(killAll);

  for (const backend of ['ptrace', 'ebpf'] as const) {
    it(`run (${backend}): 1,000 threads and 3,000 fd numbers counted as strace -f -c does, 256 ended threads listed`, async () => {
      const argv = [CHURN, '--threads', '1000', '--batch', '10', '--fds', '3000'];
      const [ours, theirs] = await Promise.all([
        iotraceDone(['run', '--json', '--backend', backend, '--', ...argv], TIMEOUT_MS),
        straceRun(argv),
      ]);
      assert.equal(ours.code, 0, `iotrace run failed:\n${ours.stderr}`);
      assert.equal(theirs.exitCode, 0, theirs.stderr);
      // With --json the command's stdout goes to iotrace's stderr.
      assert.match(ours.stderr, /threads ran: 1000 of 1000/);
      const expected = expectationIn(ours.stderr);
      const s = summaryOf(ours.stdout, ours.stderr);
      assert.deepEqual(s.exit, { code: 0, signal: null, coreDumped: false });
      const counts = countsOf(s);
      assertAnnounced(backend, counts, expected, 'run');
      assertSameAsStrace(counts, theirs.counts, RUN_DEPENDENT);
      assert.equal(s.counters.clones, 1000);
      assert.equal(s.counters.threadExits, 1001);
      assertThreadTable(s, 1001);
      assert.equal(s.threadCounts?.ended, 1001);
      assert.equal(s.threads.length, MAX_ENDED + 1, 'the leader and the 256 busiest ended threads');
      // Every descriptor number the churn used has its row: 3,000 stay under the 65,536 cap.
      assert.equal(s.counters.fdOverflow, 0);
      assert.ok(s.fds.length >= expected.fd_numbers && s.fds.length <= expected.fd_numbers + 8, `${s.fds.length} fd rows`);
    });

    it(`run (${backend}): 5,000 threads make no longer a summary than 1,000`, async () => {
      const sizes: number[] = [];
      for (const n of [1000, 5000]) {
        const r = await iotraceDone(['run', '--json', '--backend', backend, '--', CHURN, '--threads', String(n), '--batch', '50'], TIMEOUT_MS);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`threads ran: ${n} of ${n}`));
        const s = summaryOf(r.stdout, r.stderr);
        assertThreadTable(s, n + 1);
        assert.equal(s.threads.length, MAX_ENDED + 1);
        sizes.push(r.stdout.length);
      }
      // Only numbers get longer (a few digits each).
      assert.ok(sizes[1]! < sizes[0]! * 1.1, `--json sizes: ${sizes.join(' vs ')} bytes`);
    });

    it(`attach (${backend}): a churn that starts after the attach is counted as strace -p counts it`, async () => {
      const args = ['--threads', '1000', '--batch', '10', '--wait-usr1'];
      const underIotrace = (async () => {
        const target = start(CHURN, args);
        const expected = expectationIn((await target.waitFor(/^\{"pid".*\}$/m))[0]);
        const tracer = iotrace(['attach', String(target.pid), '--json', '--no-ui', '--backend', backend]);
        await tracer.waitFor(/iotrace: attached to pid \d+/);
        process.kill(target.pid, 'SIGUSR1');
        const [tracerExit, targetExit] = await Promise.all([tracer.exited(TIMEOUT_MS), target.exited(TIMEOUT_MS)]);
        assert.deepEqual(targetExit, { code: 0, signal: null });
        assert.deepEqual(tracerExit, { code: 0, signal: null }, tracer.stderr());
        assert.match(target.stdout(), /threads ran: 1000 of 1000/);
        return { expected, summary: summaryOf(tracer.stdout(), tracer.stderr()) };
      })();
      const underStrace = (async () => {
        const target = start(CHURN, args);
        await target.waitFor(/^\{"pid".*\}$/m);
        return straceAttach(target.pid, async () => {
          process.kill(target.pid, 'SIGUSR1');
          assert.deepEqual(await target.exited(TIMEOUT_MS), { code: 0, signal: null });
        });
      })();
      const [ours, theirs] = await withTimeout(Promise.allSettled([underIotrace, underStrace]), 2 * TIMEOUT_MS, 'both attaches');
      if (ours.status === 'rejected') throw ours.reason;
      if (theirs.status === 'rejected') throw theirs.reason;
      const { expected, summary: s } = ours.value;
      assert.equal(s.endReason, 'target-exit');
      const counts = countsOf(s);
      assertAnnounced(backend, counts, expected, 'attach');
      assertSameAsStrace(counts, theirs.value, ATTACH_DEPENDENT);
      assert.equal(s.counters.clones, 1000);
      assertThreadTable(s, 1001);
      assert.equal(s.threads.length, MAX_ENDED + 1);
    });

    it(`attach (${backend}) to a target that never stops churning: bounded tables, target unharmed`, async () => {
      const target = start(CHURN, ['--forever', '--batch', '20', '--fds', '500']);
      await target.waitFor(/^ran \d+$/m);
      const ran = (): number => Number(/(?:^|\n)ran (\d+)\n(?![\s\S]*\nran )/.exec(target.stdout())?.[1] ?? 0);
      const tracer = iotrace(['attach', String(target.pid), '--json', '--backend', backend]);
      await tracer.waitFor(/iotrace: attached to pid \d+/);
      // Until it has made more threads than the table lists (ptrace, which stops it at
      // every clone and exit, slows it the most).
      const enough = ran() + MAX_ENDED + 100;
      const deadline = Date.now() + 60_000;
      while (ran() < enough && Date.now() < deadline) await sleep(100);
      assert.ok(ran() >= enough, `the traced target made ${ran()} threads in 60 s, not ${enough}`);
      tracer.child.kill('SIGINT');
      assert.deepEqual(await tracer.exited(TIMEOUT_MS), { code: 0, signal: null }, tracer.stderr());
      const s = summaryOf(tracer.stdout(), tracer.stderr());
      assert.equal(s.endReason, 'SIGINT');
      assertRunningUntraced(target.pid);
      const tc = s.threadCounts;
      assert.ok(tc);
      // The main thread and the batch alive at the attach, then every clone: the last
      // snapshot is taken with the target detached, so no table is ahead of another.
      const atAttach = tc.seen - s.counters.clones;
      assert.ok(atAttach >= 1 && atAttach <= 21, `${JSON.stringify(tc)} vs ${s.counters.clones} clones`);
      assertThreadTable(s, tc.seen);
      assert.ok(tc.seen > MAX_ENDED + 21, `the churn made more threads than are listed: ${JSON.stringify(tc)}`);
      assert.ok(s.threads.filter((t) => !t.alive && t.tid !== t.pid).length <= MAX_ENDED);
      assert.ok(s.threads.length <= MAX_ENDED + 21, `${s.threads.length} threads listed`);
      assert.ok(s.fds.length <= 500 + 8, `${s.fds.length} fd rows for 500 fd numbers`);
      assert.equal(s.counters.threadOverflow + s.counters.fdOverflow, 0);
    });
  }
});
