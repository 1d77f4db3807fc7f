// SPDX-License-Identifier: MIT
// What the target does under iotrace, under each backend, in run and attach mode:
// 1. it receives exactly the signals it receives untraced: 200 SIGUSR1s, 20 SIGCHLDs from
//    children it forks, 5 SIGSTOP/SIGCONT job-control rounds, then SIGTERM (test/workloads/
//    signals.c acknowledges each one before the next is sent, so the counts are exact);
// 2. the summary reports how it ended: a normal exit with its status, SIGKILL from
//    outside, a real SIGSEGV crash (and `run` exits 128 + the signal);
// 3. it execs another program: the summary counts the exec and names the new program,
//    and counting goes on in it;
// 4. it forks children that exec: run mode follows them (strace -f), and counts equal
//    `strace -f -c` of the same command.
import { after, afterEach, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Summary } from '../agent/summary';
import {
  adopt,
  echo,
  iotrace,
  iotraceDone,
  killAll,
  NEEDS_ROOT,
  start,
  statusField,
  summaryOf,
  waitForSnapshot,
  waitForState,
  WORKLOADS,
  type Proc,
} from './harness';
import { straceRun, type SyscallCount } from './strace';

const SIGNALS = path.join(WORKLOADS, 'signals');
const ECHO_SERVER = path.join(WORKLOADS, 'echo-server');
const EXACT_IO = path.join(WORKLOADS, 'exact-io');
const EXIT_MS = 20_000;
const USR1 = 200;
const CHILDREN = 20;
const STOPS = 5;

const BACKENDS = ['ptrace', 'ebpf'] as const;
type Backend = (typeof BACKENDS)[number];
type Mode = 'untraced' | `run ${Backend}` | `attach ${Backend}`;

/** A signals target, untraced or under iotrace, and what is needed to talk to it. */
interface Target {
  pid: number;
  /** Where the target's stdout shows up: its own, or iotrace's (run --json sends it to stderr). */
  out: Proc;
  tracer?: Proc;
  backend?: Backend;
  record?: string;
}

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-target-'));
});
afterEach(killAll);
after(() => {
  killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Starts `argv` as the mode says and resolves once the target printed "ready". */
async function startTarget(mode: Mode, argv: string[]): Promise<Target> {
  if (mode === 'untraced') {
    const p = start(argv[0], argv.slice(1));
    await p.waitFor(/^ready pid=\d+\n/m);
    return { pid: p.pid, out: p };
  }
  const [how, backend] = mode.split(' ') as ['run' | 'attach', Backend];
  const record = path.join(tmp, `${how}-${backend}-${Math.random().toString(36).slice(2, 8)}.jsonl`);
  const flags = ['--json', '--no-ui', '--backend', backend, '--record', record, '--interval', '0.05'];
  if (how === 'run') {
    const tracer = iotrace(['run', ...flags, '--', ...argv]);
    const pid = Number((await tracer.waitFor(/^iotrace: started pid (\d+)/m, EXIT_MS))[1]);
    adopt(pid);
    await tracer.waitFor(new RegExp(`^ready pid=${pid}\\n`, 'm'), EXIT_MS);
    return { pid, out: tracer, tracer, backend, record };
  }
  const p = start(argv[0], argv.slice(1));
  await p.waitFor(/^ready pid=\d+\n/m);
  const tracer = iotrace(['attach', String(p.pid), ...flags]);
  await tracer.waitFor(new RegExp(`^iotrace: attached to pid ${p.pid} .* via ${backend}`, 'm'), EXIT_MS);
  return { pid: p.pid, out: p, tracer, backend, record };
}

/** Sends sig and waits for the target's acknowledgement line. */
async function acked(t: Target, sig: NodeJS.Signals, line: string): Promise<void> {
  process.kill(t.pid, sig);
  await t.out.waitFor(new RegExp(`^${line}\\n`, 'm'), EXIT_MS);
}

/**
 * The whole exchange: SIGUSR1s, forks (each child's SIGCHLD), job-control rounds, SIGTERM.
 * Returns the target's last line. A stop is waited for before the SIGCONT: 'T' untraced and
 * under eBPF; under ptrace 't' could still be SIGSTOP's signal-delivery-stop, so the
 * recording must show the group-stop.
 */
async function exchange(t: Target): Promise<string> {
  for (let i = 1; i <= USR1; i++) await acked(t, 'SIGUSR1', `usr1=${i}`);
  for (let i = 1; i <= CHILDREN; i++) await acked(t, 'SIGUSR2', `chld=${i} status=7`);
  for (let i = 1; i <= STOPS; i++) {
    process.kill(t.pid, 'SIGSTOP');
    if (t.backend === 'ptrace') {
      await waitForSnapshot(t.record as string, (s) => s.counters.groupStops === i, `job-control stop ${i}`, EXIT_MS);
      assert.match(statusField(t.pid, 'State') ?? 'gone', /^t/);
    } else {
      await waitForState(t.pid, /^T/, EXIT_MS);
    }
    await acked(t, 'SIGCONT', `cont=${i}`);
  }
  process.kill(t.pid, 'SIGTERM');
  return (await t.out.waitFor(/^final .*\n/m, EXIT_MS))[0].trim();
}

/** Waits for the end of a traced target that exited on its own and returns iotrace's summary. */
async function tracedEnd(t: Target, status = 0): Promise<Summary> {
  const tracer = t.tracer as Proc;
  assert.deepEqual(await tracer.exited(EXIT_MS), { code: status, signal: null }, tracer.stderr());
  const summary = summaryOf(tracer);
  assert.equal(summary.endReason, 'target-exit');
  return summary;
}

describe('the target gets every signal it gets untraced', () => {
  const expected = `final usr1=${USR1} usr2=${CHILDREN} chld=${CHILDREN} cont=${STOPS}`;
  const modes: Mode[] = ['untraced', ...BACKENDS.flatMap((b) => [`run ${b}`, `attach ${b}`] as Mode[])];
  for (const mode of modes) {
    const skip = mode.endsWith('ebpf') && NEEDS_ROOT;
    it(`${mode}: ${USR1} SIGUSR1, ${CHILDREN} SIGCHLD, ${STOPS} SIGSTOP/SIGCONT, SIGTERM: each handled once`, { skip }, async (tc: TestContext) => {
      const t0 = Date.now();
      const t = await startTarget(mode, [SIGNALS]);
      assert.equal(await exchange(t), expected);
      tc.diagnostic(`${mode}: exchange done in ${Date.now() - t0} ms`);
      if (!t.tracer) {
        assert.deepEqual(await t.out.exited(EXIT_MS), { code: 0, signal: null });
        return;
      }
      const summary = await tracedEnd(t);
      assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false });
      assert.equal(summary.counters.forks, CHILDREN);
      const children = summary.processes.filter((p) => p.parentPid === t.pid);
      assert.equal(children.length, CHILDREN, `children in ${JSON.stringify(summary.processes)}`);
      assert.ok(children.every((p) => p.exited && p.exitCode === 7 && p.exitSignal === null), JSON.stringify(children));
      if (t.backend === 'ptrace') {
        // Each signal sent, and each child's SIGCHLD, is one signal-delivery-stop; SIGSTOP's too.
        assert.equal(summary.counters.groupStops, STOPS);
        assert.equal(summary.counters.signals, USR1 + 2 * CHILDREN + 2 * STOPS + 1);
      }
    });
  }
});

describe('the summary says how the target ended', () => {
  for (const backend of BACKENDS) {
    const skip = backend === 'ebpf' && NEEDS_ROOT;
    it(`${backend}: run, a normal exit: its status, and iotrace exits with it`, { skip }, async () => {
      const r = await iotraceDone(['run', '--json', '--backend', backend, '--', SIGNALS, '--exit', '3'], EXIT_MS);
      assert.equal(r.code, 3, r.stderr);
      const summary = summaryOf(r);
      assert.equal(summary.endReason, 'target-exit');
      assert.deepEqual(summary.exit, { code: 3, signal: null, coreDumped: false });
    });

    for (const mode of ['run', 'attach'] as const) {
      it(`${backend}: ${mode}, SIGKILL from outside: killed by SIGKILL${mode === 'run' ? ', iotrace exits 137' : ''}`, { skip }, async () => {
        const t = await startTarget(`${mode} ${backend}`, [SIGNALS]);
        process.kill(t.pid, 'SIGKILL');
        const summary = await tracedEnd(t, mode === 'run' ? 128 + 9 : 0);
        assert.deepEqual(summary.exit, { code: null, signal: 'SIGKILL', coreDumped: false });
        assert.equal(summary.processes.find((p) => p.pid === t.pid)?.exitSignal, 'SIGKILL');
      });

      it(`${backend}: ${mode}, a crash (a null pointer write): killed by SIGSEGV${mode === 'run' ? ', iotrace exits 139' : ''}`, { skip }, async () => {
        const t = await startTarget(`${mode} ${backend}`, [SIGNALS]);
        // SIGQUIT makes signals.c write through a null pointer: a fault, not a signal sent.
        process.kill(t.pid, 'SIGQUIT');
        const summary = await tracedEnd(t, mode === 'run' ? 128 + 11 : 0);
        // Whether a core was dumped depends on RLIMIT_CORE and core_pattern, not on iotrace.
        assert.equal(summary.exit?.code, null);
        assert.equal(summary.exit?.signal, 'SIGSEGV');
        assert.equal(summary.processes.find((p) => p.pid === t.pid)?.exitSignal, 'SIGSEGV');
      });
    }
  }
});

describe('the target execs another program', () => {
  for (const backend of BACKENDS) {
    for (const mode of ['run', 'attach'] as const) {
      it(`${backend}: ${mode}: the exec is counted, the new program named, and its syscalls counted`, { skip: backend === 'ebpf' && NEEDS_ROOT }, async () => {
        const t = await startTarget(`${mode} ${backend}`, [SIGNALS, '--exec-on-hup', ECHO_SERVER, '--port', '0']);
        for (let i = 1; i <= 3; i++) await acked(t, 'SIGUSR1', `usr1=${i}`);
        process.kill(t.pid, 'SIGHUP');
        const port = Number((await t.out.waitFor(/^port=(\d+)\n/m, EXIT_MS))[1]);
        const requests = 20;
        for (let i = 0; i < requests; i++) assert.equal(await echo(port, `after exec ${i}\n`), `after exec ${i}\n`);
        // One snapshot after the last request, so the new program is seen alive.
        await waitForSnapshot(t.record as string, (s) => (s.syscalls.find((x) => x.name === 'accept4')?.calls ?? 0) > requests, 'the echo requests', EXIT_MS);
        process.kill(t.pid, 'SIGTERM');
        const summary = await tracedEnd(t);
        assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false });
        const target = summary.processes.find((p) => p.pid === t.pid);
        assert.ok(target, JSON.stringify(summary.processes));
        // Run mode also counts the execve that started the command.
        assert.equal(target.execs, mode === 'run' ? 2 : 1);
        assert.equal(summary.counters.execs, mode === 'run' ? 2 : 1);
        assert.equal(target.cmdline, `${ECHO_SERVER} --port 0`);
        assert.equal(summary.target.exe, SIGNALS, 'the header names the program first traced');
        // The text summary says it too (report prints what the session printed).
        const text = await iotraceDone(['report', t.record as string]);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, new RegExp(`^target exec'd 1×, last seen as: ${ECHO_SERVER} --port 0$`, 'm'));
        const accept4 = summary.syscalls.find((s) => s.name === 'accept4');
        assert.equal((accept4?.calls ?? 0) - (accept4?.errors ?? 0), requests, 'the echo server accepted each request once');
        // "ready" (run mode only: before the attach otherwise), 3 acks, "exec", "port=": one write each.
        assert.equal(summary.syscalls.find((s) => s.name === 'write')?.calls, (mode === 'run' ? 1 : 0) + 3 + 1 + 1 + requests);
      });
    }
  }
});

describe('the target execs a program that exits before iotrace sees it', () => {
  for (const backend of BACKENDS) {
    for (const mode of ['run', 'attach'] as const) {
      it(`${backend}: ${mode}: the exec is counted and the program first seen is not named as the one that ran`, { skip: backend === 'ebpf' && NEEDS_ROOT }, async () => {
        const t = await startTarget(`${mode} ${backend}`, [SIGNALS, '--exec-on-hup', SIGNALS, '--exit', '4']);
        const first = `${SIGNALS} --exec-on-hup ${SIGNALS} --exit 4`;
        await waitForSnapshot(t.record as string, (s) => s.processes.some((p) => p.pid === t.pid && p.cmdline === first), 'the first program', EXIT_MS);
        // The new program exits at once: no snapshot can be expected to see it alive.
        process.kill(t.pid, 'SIGHUP');
        const summary = await tracedEnd(t, mode === 'run' ? 4 : 0);
        assert.deepEqual(summary.exit, { code: 4, signal: null, coreDumped: false });
        const target = summary.processes.find((p) => p.pid === t.pid);
        assert.equal(target?.execs, mode === 'run' ? 2 : 1);
        // Seen (a snapshot caught it in time) or not: never the program it was before the exec.
        assert.ok(target?.cmdline === '' || target?.cmdline === `${SIGNALS} --exit 4`, `cmdline ${target?.cmdline}`);
      });
    }
  }
});

/** Counts by name, in strace's shape. */
function countsOf(summary: Summary): Map<string, SyscallCount> {
  return new Map(summary.syscalls.map((s) => [s.name, { calls: s.calls, errors: s.errors }]));
}

/**
 * Syscalls whose number varies from run to run of the same command, whoever traces it
 * (see exactness.test.ts): futex (who reaches a barrier first), getrandom (malloc's first
 * use, and mkostemp's rare redraw).
 */
const RUN_DEPENDENT = new Set(['futex', 'getrandom']);

describe('the target forks children that exec', () => {
  const spawned = 3;
  const argv = [SIGNALS, '--spawn', String(spawned), EXACT_IO, '--now', '--threads', '2', '--iters', '50'];
  const RUN_FLAGS = {
    'ptrace with the seccomp filter': ['--backend', 'ptrace'],
    'ptrace with --all-syscalls': ['--backend', 'ptrace', '--all-syscalls'],
    eBPF: ['--backend', 'ebpf'],
  } as const;
  for (const [what, flags] of Object.entries(RUN_FLAGS)) {
    it(`run under ${what}: every child followed, counts equal strace -f -c`, { skip: what === 'eBPF' && NEEDS_ROOT }, async () => {
      const [ours, theirs] = await Promise.all([iotraceDone(['run', '--json', ...flags, '--', ...argv], EXIT_MS * 2), straceRun(argv)]);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(theirs.exitCode, 0, theirs.stderr);
      const summary = summaryOf(ours);
      const counts = countsOf(summary);
      const names = [...new Set([...(what.includes('seccomp') ? counts.keys() : [...counts.keys(), ...theirs.counts.keys()])])].filter((n) => !RUN_DEPENDENT.has(n)).sort();
      const pick = (m: Map<string, SyscallCount>): Record<string, SyscallCount> => Object.fromEntries(names.map((n) => [n, m.get(n) ?? { calls: 0, errors: 0 }]));
      assert.deepEqual(pick(counts), pick(theirs.counts), 'iotrace (actual) and strace -f -c (expected) disagree');
      // exact-io forks one child of its own and makes 2 + 2 threads (see exact-io.c).
      assert.equal(summary.counters.forks, spawned * 2);
      assert.equal(summary.counters.clones, spawned * 4);
      const children = summary.processes.filter((p) => p.parentPid === summary.target.pid);
      assert.equal(children.length, spawned);
      assert.ok(children.every((p) => p.execs === 1 && p.exited && p.exitCode === 0), JSON.stringify(children));
    });
  }
});
