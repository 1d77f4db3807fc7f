// SPDX-License-Identifier: MIT
// Attaching while the target goes away, under both backends:
// 1. a process that exits while iotrace starts and attaches (its death swept across the
//    attach, reaped at once or left a zombie) ends in one of two ways only: a one-line
//    "exited during attach" / "no such process" error with exit 1, or a session that
//    reports the target's exit. Never a stack, a hang, a stopped process, or (eBPF) a
//    program left loaded;
// 2. a process whose threads start and end about a thousand times a second is attached
//    20 times: each attach succeeds (ptrace attaches thread by thread; one that ends
//    meanwhile is skipped) and each detach leaves every thread running, untraced.
import { after, afterEach, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Summary } from '../agent/summary';
import { lastProgramId, waitNoOrphanPrograms } from './bpf-objects';
import { attach, summaryOf } from './exact-io';
import { iotrace, killAll, start, statusField, WORKLOADS, type Proc } from './harness';
import { assertThreadsRunningUntraced, threadStates } from './thread-states';
import { assertUserError, type Done } from './user-error';

const BACKENDS = ['ptrace', 'ebpf'] as const;
const DYING_ROUNDS = 50;
const CHURN_ATTACHES = 20;
const WAIT_MS = 20_000;
const HANG_MS = 60_000;

afterEach(() => killAll());
after(() => killAll());

/** Milliseconds from starting `iotrace attach` to its "attached" line, on this machine now. */
async function attachDelayMs(backend: 'ptrace' | 'ebpf'): Promise<number> {
  const target = start('sleep', ['60']);
  const t0 = Date.now();
  const tracer = await attach(target.pid, backend);
  const ms = Date.now() - t0;
  tracer.child.kill('SIGINT');
  await tracer.exited(WAIT_MS);
  target.child.kill('SIGKILL');
  return ms;
}

/**
 * A process that exits by itself lifeMs after it starts: `sleep`, reaped at once by this
 * test, or the forked child of a perl parent that leaves it a zombie until SIGTERM.
 */
async function startDying(lifeMs: number, reaped: boolean): Promise<{ pid: number; parent: Proc; ended(): Promise<void> }> {
  const seconds = (lifeMs / 1000).toFixed(3);
  if (reaped) {
    const p = start('sleep', [seconds]);
    return {
      pid: p.pid,
      parent: p,
      // Exit 0: it ran its time, nobody stopped or killed it.
      ended: async () => assert.deepEqual(await p.exited(WAIT_MS), { code: 0, signal: null }, `sleep ${seconds} did not end by itself`),
    };
  }
  const parent = start('perl', [
    '-e',
    `$| = 1; my $c = fork() // die "fork: $!"; if ($c == 0) { select(undef, undef, undef, ${seconds}); exit 0 } ` +
      '$SIG{TERM} = sub { waitpid($c, 0); exit 0 }; print "child=$c\\n"; sleep 60 while 1;',
  ]);
  const pid = Number((await parent.waitFor(/child=(\d+)/))[1]);
  return {
    pid,
    parent,
    ended: async () => {
      const end = Date.now() + WAIT_MS;
      while (statusField(pid, 'State')?.startsWith('Z') !== true) {
        assert.ok(Date.now() < end, `the child ${pid} did not exit by itself (state ${statusField(pid, 'State')})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      parent.child.kill('SIGTERM');
      await parent.exited(WAIT_MS);
    },
  };
}

/** Where each thread of a hung iotrace waits, and the target's state, for the failure message. */
function whereStuck(pid: number, target: number): string {
  const read = (file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch {
      return '-';
    }
  };
  const threads = threadStates(pid).map((t) => `  tid ${t.tid} ${read(`/proc/${pid}/task/${t.tid}/comm`)} ${t.state} wchan=${read(`/proc/${pid}/task/${t.tid}/wchan`)} syscall=${read(`/proc/${pid}/task/${t.tid}/syscall`).split(' ')[0]}`);
  return `iotrace ${pid}:\n${threads.join('\n')}\ntarget ${target}: ${statusField(target, 'State')}, TracerPid ${statusField(target, 'TracerPid')}; load ${read('/proc/loadavg')}`;
}

/** What one attach to a dying pid came to; anything else fails the test. */
function outcomeOf(res: Done, pid: number): string {
  if (res.code === 0) {
    const summary: Summary = summaryOf(res);
    assert.equal(summary.endReason, 'target-exit', `a session on pid ${pid} did not end with its exit:\n${res.stderr}`);
    return 'traced until it exited';
  }
  assertUserError(res, new RegExp(`pid ${pid}: the process exited during attach$|no such process: ${pid}$|pid ${pid} is a zombie \\(|pid ${pid} is exiting$`));
  assert.equal(res.stdout, '', 'a failed attach printed a summary');
  return res.stderr.replace(/^iotrace: /, '').replace(/\d+/g, 'N').replace(/ \(.*/, '').trim();
}

describe('a pid that exits while iotrace attaches', () => {
  for (const backend of BACKENDS) {
    it(`--backend ${backend}: ${DYING_ROUNDS} deaths swept across the attach each end in a clean error or a session that saw the exit`, async (t: TestContext) => {
      const delayMs = await attachDelayMs(backend);
      const firstProgram = backend === 'ebpf' ? lastProgramId() : 0;
      const outcomes = new Map<string, number>();
      for (let i = 0; i < DYING_ROUNDS; i++) {
        // From well before the attach to well after it (the machine is shared: one attach
        // may take twice as long as the one measured), plus 0-30 ms of jitter.
        const lifeMs = Math.round(delayMs * (0.2 + (1.8 * i) / (DYING_ROUNDS - 1)) + Math.random() * 30);
        const target = await startDying(lifeMs, i % 2 === 0);
        // --duration bounds a session that would miss the exit: it then ends by duration, and fails.
        const tracer = iotrace(['attach', '--backend', backend, '--no-ui', '--json', '--duration', '15', String(target.pid)]);
        let outcome: string;
        try {
          // Beyond the 15 s: on a loaded machine starting node and loading probes takes seconds.
          const exit = await tracer.exited(HANG_MS).catch((err: Error) => {
            throw new Error(`${err.message}\n${whereStuck(tracer.pid, target.pid)}`);
          });
          outcome = outcomeOf({ ...exit, stdout: tracer.stdout(), stderr: tracer.stderr() }, target.pid);
        } catch (err) {
          throw new Error(`round ${i} (life ${lifeMs} ms, ${i % 2 === 0 ? 'reaped' : 'left a zombie'}): ${(err as Error).message}`);
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        await target.ended();
      }
      t.diagnostic(`attach took ${delayMs} ms; outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
      if (backend === 'ebpf') await waitNoOrphanPrograms(firstProgram);
    });
  }
});

describe('a process whose threads come and go', () => {
  for (const backend of BACKENDS) {
    it(`--backend ${backend}: ${CHURN_ATTACHES} attaches all succeed, and each detach leaves every thread running, untraced`, async () => {
      const churn = start(path.join(WORKLOADS, 'thread-flicker'), []);
      const started = (): number => Math.max(0, ...[...churn.stdout().matchAll(/started (\d+)/g)].map((m) => Number(m[1])));
      await churn.waitFor(/started \d+/);
      for (let i = 0; i < CHURN_ATTACHES; i++) {
        const tracer = iotrace(['attach', '--backend', backend, '--no-ui', '--json', String(churn.pid)]);
        await tracer.waitFor(/attached to pid/, WAIT_MS);
        // At least 101 threads started after the attach (it prints every 100th), whatever
        // the machine's load: the attach is known to have had threads to follow.
        await churn.waitFor(new RegExp(`started ${started() + 200}\\b`), WAIT_MS);
        tracer.child.kill('SIGINT');
        const exit = await tracer.exited(WAIT_MS);
        assert.deepEqual(exit, { code: 0, signal: null }, `attach ${i} failed:\n${tracer.stderr()}`);
        const summary = summaryOf(tracer);
        assert.equal(summary.endReason, 'SIGINT');
        assert.ok(summary.counters.clones >= 100, `attach ${i}: ${summary.counters.clones} thread creations seen, fewer than the 101 made`);
        assert.ok(summary.counters.threadExits > 0, `attach ${i}: no thread exit seen`);
        assertThreadsRunningUntraced(churn.pid);
        // And it runs on: more threads are started after the detach.
        await churn.waitFor(new RegExp(`started ${started() + 100}\\b`), WAIT_MS);
        assertThreadsRunningUntraced(churn.pid);
      }
      assert.equal(churn.child.exitCode, null, `thread-flicker ended: ${churn.stderr()}`);
    });
  }
});
