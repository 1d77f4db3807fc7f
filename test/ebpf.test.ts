// SPDX-License-Identifier: MIT
// The eBPF backend, from outside:
// 1. every lab reference server is classified the same under --backend ebpf and
//    --backend ptrace, and as what it is built to be;
// 2. under eBPF the target is never stopped: every thread, sampled every 20 ms while it
//    is traced under load, is never in a stop (t, T) and TracerPid stays 0;
// 3. several tracers watch one process at once: two eBPF iotraces, or a ptrace one and an
//    eBPF one, each count exact-io's announced syscalls exactly (nothing doubled, nothing
//    shared between the two sets of probes);
// 4. without privilege (user nobody) --backend auto falls back to ptrace and says why, and
//    --backend ebpf fails with one line naming CAP_BPF.
// That iotrace leaves none of its BPF programs, maps or links behind however it ends:
// test/faults.test.ts. Tests 1 to 3 need root (CAP_BPF, CAP_PERFMON) and skip, saying so, without it.
import { after, afterEach, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Classification } from '../agent/classify/vocabulary';
import { checkClassification, findModel, LAB_MODELS, serverCommand, type LabModel } from '../agent/lab/models';
import type { Summary } from '../agent/summary';
import {
  assertRunningUntraced,
  iotraceDone,
  IS_ROOT,
  killAll,
  NEEDS_ROOT,
  readableCopy,
  sleep,
  start,
  startLoad,
  statusField,
  summaryOf,
  type Proc,
} from './harness';
import { threadStates } from './thread-states';
import { ATTACH_DEPENDENT, attach, assertAnnounced, countsOf, exactIoUnder } from './exact-io';

const EXIT_MS = 30_000;

afterEach(() => killAll());
after(() => killAll());

// ---------------------------------------------------------------------------------------
// Small helpers

/** Starts a lab model's server on a free port. */
async function startLabServer(name: string): Promise<{ proc: Proc; port: number; model: LabModel }> {
  const model = findModel(name);
  assert.ok(model, `lab model ${name}`);
  const cmd = serverCommand(model);
  const proc = start(cmd.file, [...cmd.args, '--port', '0'], { env: { ...process.env, ...model.env } });
  const match = await proc.waitFor(/port=(\d+)/);
  return { proc, port: Number(match[1]), model };
}


// ---------------------------------------------------------------------------------------
// 1. Classification under both backends

interface LabJson {
  model: string;
  trace: Summary;
}

/** The labels checkClassification compares, each dimension as a sorted set. */
function labels(c: Classification): object {
  return {
    wait: c.wait.map((w) => w.label).sort(),
    epollTrigger: c.epollTrigger?.label ?? null,
    data: c.data.filter((d) => !d.minor).map((d) => d.label).sort(),
    concurrency: c.concurrency.map((x) => x.label).sort(),
  };
}

/** One line per classification, as lab.test.ts prints it: wait(trigger) / data / concurrency. */
const short = (c: Classification): string =>
  `${c.wait.map((w) => w.label).join('+') || 'none'}${c.epollTrigger ? `(${c.epollTrigger.label})` : ''} / ${c.data.filter((d) => !d.minor).map((d) => d.label).join('+') || 'none'} / ${c.concurrency.map((x) => x.label).join('+') || 'none'}`;

async function labTour(backend: 'ebpf' | 'ptrace'): Promise<Map<string, Summary>> {
  const res = await iotraceDone(['lab', '--json', '--backend', backend, '--duration', '2'], 240_000);
  const tail = `\nstderr: ${res.stderr.slice(-3000)}`;
  assert.equal(res.signal, null, `iotrace lab --backend ${backend} was killed by ${res.signal}${tail}`);
  let results: LabJson[];
  try {
    results = JSON.parse(res.stdout) as LabJson[];
  } catch (err) {
    throw new Error(`iotrace lab --json --backend ${backend} printed no JSON (${String(err)})${tail}`);
  }
  // Exit 1 means a syscall signature mismatch or load errors in some model (agent/commands/lab.ts).
  assert.equal(res.code, 0, `iotrace lab --backend ${backend} exited ${res.code}${tail}`);
  assert.ok(Array.isArray(results), 'the tour prints an array');
  return new Map(results.map((r) => [r.model, r.trace]));
}

describe('eBPF and ptrace classify every lab server alike', { skip: NEEDS_ROOT }, () => {
  it('the lab tour under --backend ebpf and --backend ptrace: same labels per model, each its ground truth', async (t: TestContext) => {
    // One after the other: two tours at once on a small machine would load each other's servers.
    const ebpf = await labTour('ebpf');
    const ptrace = await labTour('ptrace');

    const cell = (m: LabModel, s: Summary | undefined): string =>
      s ? `${short(s.classification)}${checkClassification(m, s.classification).ok ? '' : ' MISMATCH'}` : 'missing';
    const w = Math.max(...LAB_MODELS.map((m) => m.name.length));
    const w2 = Math.max(...LAB_MODELS.map((m) => cell(m, ptrace.get(m.name)).length));
    const table = [`${'model'.padEnd(w)}  ${'ptrace'.padEnd(w2)}  ebpf`];
    const problems: string[] = [];
    for (const m of LAB_MODELS) {
      const byBackend = { ptrace: ptrace.get(m.name), ebpf: ebpf.get(m.name) };
      table.push(`${m.name.padEnd(w)}  ${cell(m, byBackend.ptrace).padEnd(w2)}  ${cell(m, byBackend.ebpf)}`);
      for (const [backend, s] of Object.entries(byBackend)) {
        if (!s) {
          problems.push(`${m.name}: no result under --backend ${backend}`);
          continue;
        }
        if (s.backend !== backend || s.backendReason !== `--backend ${backend}`) {
          problems.push(`${m.name}: asked for ${backend}, traced with ${s.backend} (${s.backendReason})`);
        }
        if (!(s.totals.calls > 0)) problems.push(`${m.name} (${backend}): no syscall counted`);
        for (const x of checkClassification(m, s.classification).mismatches) {
          problems.push(`${m.name} (${backend}): ${x.what} is ${x.truth}, classified ${x.classified}`);
        }
      }
      if (byBackend.ptrace && byBackend.ebpf && JSON.stringify(labels(byBackend.ptrace.classification)) !== JSON.stringify(labels(byBackend.ebpf.classification))) {
        problems.push(`${m.name}: ptrace says ${short(byBackend.ptrace.classification)}, ebpf says ${short(byBackend.ebpf.classification)}`);
      }
    }
    for (const line of table) t.diagnostic(line);
    assert.deepEqual(problems, [], `classification under the two backends:\n${table.join('\n')}`);
  });
});

// ---------------------------------------------------------------------------------------
// 2. The target is never stopped

describe('under eBPF the target is never stopped', { skip: NEEDS_ROOT }, () => {
  const ROUNDS = 150;
  for (const name of ['epoll-lt', 'blocking-threads']) {
    it(`${name} under load: every thread sampled every 20 ms for 5 s and 150 rounds of tracing is never in t or T, TracerPid stays 0`, async (t: TestContext) => {
      const { proc: server, port } = await startLabServer(name);
      // Killed with the test's processes; it outlasts any trace.
      const load = startLoad(port, 90);
      await sleep(300);
      assertRunningUntraced(server.pid);

      // Ended by SIGINT once both 5 s and 150 rounds have passed: a loaded machine may give
      // this loop fewer rounds in 5 s, and too few samples would show nothing.
      const tracer = await attach(server.pid, 'ebpf');
      const attachedAt = Date.now();
      let rounds = 0;
      let threadSamples = 0;
      let maxThreads = 0;
      const bad: string[] = [];
      let done = false;
      let stopSent = false;
      const ended = tracer.exited(60_000 + EXIT_MS).finally(() => (done = true));
      while (!done) {
        const states = threadStates(server.pid);
        assert.ok(states.length > 0, `${name} (pid ${server.pid}) is gone while traced`);
        rounds++;
        threadSamples += states.length;
        maxThreads = Math.max(maxThreads, states.length);
        for (const s of states) {
          if (s.state === 't' || s.state === 'T' || (s.tracerPid !== undefined && s.tracerPid !== '0')) {
            if (bad.length < 20) bad.push(`round ${rounds}: thread ${s.tid} in state ${s.state}, TracerPid ${s.tracerPid}`);
          }
        }
        const tracerPid = statusField(server.pid, 'TracerPid');
        if (tracerPid !== '0' && bad.length < 20) bad.push(`round ${rounds}: process TracerPid ${tracerPid}`);
        if (!stopSent && rounds >= ROUNDS && Date.now() - attachedAt >= 5000) {
          stopSent = true;
          tracer.child.kill('SIGINT');
        }
        assert.ok(Date.now() - attachedAt < 60_000, `${name}: ${rounds} sampling rounds in 60 s`);
        await sleep(20);
      }
      assert.deepEqual(await ended, { code: 0, signal: null }, tracer.stderr());
      t.diagnostic(`${name}: ${rounds} sampling rounds, ${threadSamples} thread samples, at most ${maxThreads} thread(s) at once`);

      assert.deepEqual(bad, [], `${name} was stopped or traced while iotrace --backend ebpf watched it`);
      assert.ok(rounds >= ROUNDS, `only ${rounds} sampling rounds during the trace: too few to show anything`);
      if (name === 'blocking-threads') assert.ok(maxThreads > 1, 'blocking-threads ran a thread per connection');
      const summary = summaryOf(tracer);
      assert.equal(summary.backend, 'ebpf');
      assert.equal(summary.endReason, 'SIGINT');
      assert.ok(summary.totals.calls > 0, 'iotrace counted no syscall of a server under load');
      t.diagnostic(`${name}: ${summary.totals.calls} syscalls counted`);
      assertRunningUntraced(server.pid);
      load.child.kill('SIGINT');
      await load.exited(10_000);
    });
  }
});

// ---------------------------------------------------------------------------------------
// 3. Several tracers at once

describe('several tracers watch one process at once', { skip: NEEDS_ROOT }, () => {
  it('two eBPF iotraces on one server under load: both count, both via ebpf', async (t: TestContext) => {
    const { proc: server, port } = await startLabServer('epoll-et');
    startLoad(port, 10);
    await sleep(300);
    const tracers = await Promise.all([attach(server.pid, 'ebpf', ['--duration', '3']), attach(server.pid, 'ebpf', ['--duration', '3'])]);
    const exits = await Promise.all(tracers.map((tr) => tr.exited(EXIT_MS)));
    exits.forEach((e, i) => assert.deepEqual(e, { code: 0, signal: null }, `iotrace #${i + 1}:\n${tracers[i].stderr()}`));
    const summaries = tracers.map((tr) => summaryOf(tr));
    for (const [i, s] of summaries.entries()) {
      assert.equal(s.backend, 'ebpf', `iotrace #${i + 1}`);
      assert.ok(s.totals.calls > 0, `iotrace #${i + 1} counted no syscall`);
      assert.equal(s.endReason, 'duration');
    }
    t.diagnostic(`calls: ${summaries.map((s) => s.totals.calls).join(' and ')}`);
    assertRunningUntraced(server.pid);
  });

  it('two eBPF iotraces on exact-io: each counts exactly what it announces, and both count alike', async () => {
    const { expected, summaries } = await exactIoUnder(['ebpf', 'ebpf']);
    assertAnnounced('the first eBPF iotrace', summaries[0], expected);
    assertAnnounced('the second eBPF iotrace', summaries[1], expected);
    // Both were in place before exact-io left sigwaitinfo, and eBPF interrupts nothing:
    // they saw the same syscalls, every one of them.
    assert.deepEqual(countsOf(summaries[1]), countsOf(summaries[0]), 'the two eBPF iotraces disagree');
    assert.equal(summaries[0].counters.clones, 3);
    assert.equal(summaries[1].counters.clones, 3);
  });

  it('a ptrace iotrace and an eBPF iotrace on exact-io: each counts exactly what it announces', async () => {
    const { expected, summaries } = await exactIoUnder(['ptrace', 'ebpf']);
    assertAnnounced('the ptrace iotrace', summaries[0], expected);
    assertAnnounced('the eBPF iotrace', summaries[1], expected);
    assert.deepEqual(
      countsOf(summaries[1], undefined, ATTACH_DEPENDENT),
      countsOf(summaries[0], undefined, ATTACH_DEPENDENT),
      'the eBPF iotrace (actual) and the ptrace one (expected) disagree beyond futex, getrandom and rt_sigtimedwait',
    );
    assert.equal(summaries[0].counters.clones, 3);
    assert.equal(summaries[1].counters.clones, 3);
  });
});

// ---------------------------------------------------------------------------------------
// 4. Without privilege

/**
 * Runs iotrace as an unprivileged user. As root: as nobody (setpriv), from a readable copy
 * of what the CLI needs, since the checkout may sit under a 0700 mktemp directory nobody
 * cannot enter (as in inspect.test.ts). Otherwise: as the current user, unprivileged already.
 * With `shell`, through `sh -c shell sh iotrace argv…` (see the attach case).
 */
function unprivileged(copy: string, argv: string[], shell?: string): Proc {
  const cli = [process.execPath, path.join(copy, 'bin', 'iotrace')];
  const cmd = shell ? ['/bin/sh', '-c', shell, 'sh', ...cli, ...argv] : [...cli, ...argv];
  if (!IS_ROOT) return start(cmd[0], cmd.slice(1), { cwd: copy });
  return start('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...cmd], { cwd: copy });
}

const EBPF_REFUSED = /^iotrace: the eBPF backend cannot load its probes: .*CAP_BPF.*; --backend ptrace traces without eBPF\n$/;

/** One line, no stack trace. */
function assertOneLine(stderr: string): void {
  assert.equal(stderr.split('\n').length, 2, `more than one line on stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, /^ {4}at /m, `a stack trace on stderr:\n${stderr}`);
}

describe('without privilege', () => {
  let copy: string;
  afterEach(() => {
    if (copy) fs.rmSync(copy, { recursive: true, force: true });
  });

  it('run: --backend auto falls back to ptrace and says why; --backend ebpf fails in one line naming CAP_BPF', async () => {
    copy = readableCopy();
    const auto = unprivileged(copy, ['run', '--json', '--', '/bin/true']);
    assert.deepEqual(await auto.exited(EXIT_MS), { code: 0, signal: null }, auto.stderr());
    assert.match(auto.stderr(), /^iotrace: started pid \d+ \(\/bin\/true\) via ptrace \(ebpf unavailable: [^\n]*CAP_BPF[^\n]*\)$/m);
    const summary = summaryOf(auto);
    assert.equal(summary.backend, 'ptrace');
    assert.match(summary.backendReason ?? '', /^ebpf unavailable: .*CAP_BPF.*; using ptrace$/);
    assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false });
    assert.ok(summary.totals.calls > 0, '/bin/true made no syscall iotrace saw');

    const ebpf = unprivileged(copy, ['run', '--json', '--backend', 'ebpf', '--', '/bin/true']);
    const e = await ebpf.exited(EXIT_MS);
    assert.notEqual(e.code, 0, `--backend ebpf without privilege exited 0:\n${ebpf.stderr()}`);
    assert.equal(e.signal, null);
    assert.match(ebpf.stderr(), EBPF_REFUSED);
    assertOneLine(ebpf.stderr());
    assert.equal(ebpf.stdout(), '');
  });

  it('attach to its own process: --backend auto falls back to ptrace; --backend ebpf fails in one line and leaves the target untouched', async () => {
    copy = readableCopy();
    // sh starts the sleep and becomes iotrace: the tracer is the target's parent, which
    // ptrace allows at any kernel.yama.ptrace_scope below 2.
    const shell = 'sleep 60 & echo "sleep=$!" >&2; exec "$@" "$!"';
    for (const backend of ['auto', 'ebpf'] as const) {
      const p = unprivileged(copy, ['attach', '--json', '--no-ui', '--duration', '1', '--backend', backend], shell);
      const sleepPid = Number((await p.waitFor(/sleep=(\d+)/))[1]);
      try {
        const e = await p.exited(EXIT_MS);
        const stderr = p.stderr().replace(/^sleep=\d+\n/m, '');
        if (backend === 'auto') {
          assert.deepEqual(e, { code: 0, signal: null }, stderr);
          assert.match(stderr, new RegExp(`^iotrace: attached to pid ${sleepPid} \\(sleep 60\\) via ptrace \\(ebpf unavailable: [^\\n]*CAP_BPF[^\\n]*\\)$`, 'm'));
          const summary = summaryOf(p);
          assert.equal(summary.backend, 'ptrace');
          assert.match(summary.backendReason ?? '', /^ebpf unavailable: .*CAP_BPF.*; using ptrace$/);
          assert.equal(summary.endReason, 'duration');
        } else {
          assert.notEqual(e.code, 0, `--backend ebpf without privilege exited 0:\n${stderr}`);
          assert.match(stderr, EBPF_REFUSED);
          assertOneLine(stderr);
          assert.equal(p.stdout(), '');
        }
        assertRunningUntraced(sleepPid);
      } finally {
        try {
          process.kill(sleepPid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
});
