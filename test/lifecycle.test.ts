// SPDX-License-Identifier: MIT
// iotrace never harms its target: whichever way a session ends (SIGINT, SIGTERM, SIGHUP,
// --duration, the target's exit, the target stopped by job control) the echo server goes
// on serving, untraced, having received every signal sent to it while it was traced; and
// run mode passes signals and the exit status through. iotrace killed under load, and its
// terminal closed: test/faults.test.ts.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Snapshot } from '../agent/snapshot';
import type { Summary } from '../agent/summary';
import {
  adopt,
  assertRunningUntraced,
  echo,
  iotrace,
  iotraceDone,
  killAll,
  startEchoServer,
  statusField,
  summaryOf,
  usr1Rounds,
  waitForSnapshot,
  waitForState,
  WORKLOADS,
  type Proc,
} from './harness';

const ECHO_SERVER = path.join(WORKLOADS, 'echo-server');
/** SIGUSR1s sent to the server while traced, one at a time. */
const K = 3;
const EXIT_MS = 10_000;

/**
 * `iotrace attach <pid> --backend ptrace --json --no-ui …`, resolved once it says it is
 * attached. ptrace: the backend that stops the target, whose every exit path these tests
 * check (eBPF's: test/ebpf.test.ts).
 */
async function attach(pid: number, extra: string[] = []): Promise<Proc> {
  const tracer = iotrace(['attach', String(pid), '--backend', 'ptrace', '--json', '--no-ui', ...extra]);
  const m = await tracer.waitFor(/iotrace: attached to pid (\d+)/);
  assert.equal(Number(m[1]), pid);
  assertTracedBy(pid, tracer);
  return tracer;
}

/** TracerPid names the thread that attached (iotrace's tracer thread): its Tgid is iotrace. */
function assertTracedBy(pid: number, tracer: Proc): void {
  const tid = statusField(pid, 'TracerPid');
  assert.ok(tid !== undefined && tid !== '0', `pid ${pid} is not traced (TracerPid ${tid})`);
  assert.equal(statusField(Number(tid), 'Tgid'), String(tracer.pid), `pid ${pid} is traced by thread ${tid}, not by iotrace`);
}

/** The target after a detach: running, untraced, echoing, and it handled all `usr1` SIGUSR1s. */
async function assertServingUntraced(pid: number, port: number, usr1: number): Promise<void> {
  assertRunningUntraced(pid);
  assert.equal(await echo(port, 'after detach\n'), 'after detach\n');
  assert.equal(await echo(port, 'stats\n'), `usr1=${usr1}\n`);
  assertRunningUntraced(pid);
}

describe('the target survives every end of a session', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-lifecycle-'));
  });
  afterEach(killAll);
  after(() => {
    killAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`detaches on ${sig} and leaves the target running, untraced, with every signal delivered`, async () => {
      const { proc: server, port } = await startEchoServer();
      const tracer = await attach(server.pid);
      assert.equal(await echo(port, 'traced\n'), 'traced\n');
      await usr1Rounds(server.pid, port, 0, K);

      tracer.child.kill(sig);
      assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
      const summary = summaryOf(tracer);
      assert.equal(summary.endReason, sig);
      assert.equal(summary.exit, null, 'the target did not exit');
      assert.equal(summary.counters.signals, K, 'each SIGUSR1 went through one signal-delivery-stop');
      await assertServingUntraced(server.pid, port, K);
    });
  }

  it('detaches cleanly on a SIGINT sent the moment it reports the attach', async () => {
    // A user's Ctrl-C right after "attached" must detach and print the summary, not kill
    // iotrace. Twenty attaches to one server, each interrupted at once: a window between
    // the line and the signal handlers shows up in a few of them.
    const { proc: server, port } = await startEchoServer();
    const attaches = 20;
    const outcomes: string[] = [];
    for (let i = 0; i < attaches; i++) {
      const tracer = iotrace(['attach', String(server.pid), '--backend', 'ptrace', '--json', '--no-ui']);
      await tracer.waitFor(/iotrace: attached to pid/);
      tracer.child.kill('SIGINT');
      const exit = await tracer.exited(EXIT_MS);
      outcomes.push(exit.code === 0 ? 'detached' : `iotrace ended with ${JSON.stringify(exit)}, stderr: ${tracer.stderr().trim()}`);
      if (exit.code === 0) assert.equal(summaryOf(tracer).endReason, 'SIGINT');
      assertRunningUntraced(server.pid);
      assert.equal(await echo(port, `attach ${i}\n`), `attach ${i}\n`);
    }
    assert.deepEqual(outcomes, Array(attaches).fill('detached'));
  });

  it('ends by itself after --duration and leaves the target running', async () => {
    const { proc: server, port } = await startEchoServer();
    const t0 = Date.now();
    const tracer = await attach(server.pid, ['--duration', '1']);
    await usr1Rounds(server.pid, port, 0, K);
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1000, `ended after ${elapsed} ms, before the duration`);
    const summary = summaryOf(tracer);
    assert.equal(summary.endReason, 'duration');
    assert.ok(summary.durationNs >= 0.95e9 && summary.durationNs < 5e9, `durationNs ${summary.durationNs}`);
    assert.equal(summary.counters.signals, K);
    await assertServingUntraced(server.pid, port, K);
  });

  it("ends with the target's exit, reporting its status", async () => {
    const { proc: server, port } = await startEchoServer();
    const tracer = await attach(server.pid);
    await usr1Rounds(server.pid, port, 0, K);
    // echo-server takes SIGTERM through a signalfd and exits 0.
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited(EXIT_MS), { code: 0, signal: null });
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    assert.equal(summary.endReason, 'target-exit');
    assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false });
    assert.equal(summary.counters.signals, K, 'SIGTERM was read from the signalfd, not delivered');
  });

  it("ends with the target's death by a signal, reporting the signal", async () => {
    const { proc: server } = await startEchoServer();
    const tracer = await attach(server.pid);
    server.child.kill('SIGKILL');
    assert.deepEqual(await server.exited(EXIT_MS), { code: null, signal: 'SIGKILL' });
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    assert.equal(summary.endReason, 'target-exit');
    assert.deepEqual(summary.exit, { code: null, signal: 'SIGKILL', coreDumped: false });
  });

  it('passes a job-control stop and continue through while attached, then detaches', async () => {
    const { proc: server, port } = await startEchoServer();
    const record = path.join(tmp, 'stop-cont.jsonl');
    const tracer = await attach(server.pid, ['--record', record, '--interval', '0.05']);
    await usr1Rounds(server.pid, port, 0, K);

    server.child.kill('SIGSTOP');
    // A traced process held in its group-stop (PTRACE_LISTEN) shows 't (tracing stop)'.
    await waitForState(server.pid, /^[tT]/);
    await waitForSnapshot(record, (s) => s.counters.groupStops === 1, 'the group-stop');
    assert.match(statusField(server.pid, 'State') ?? 'gone', /^[tT]/, 'still stopped');
    server.child.kill('SIGCONT');
    await waitForState(server.pid, /^[RS]/);
    assert.equal(await echo(port, 'continued\n'), 'continued\n');
    assertTracedBy(server.pid, tracer);

    tracer.child.kill('SIGINT');
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    assert.equal(summary.endReason, 'SIGINT');
    assert.equal(summary.counters.groupStops, 1);
    await assertServingUntraced(server.pid, port, K);
  });

  it('leaves a target stopped by job control stopped when it detaches, and SIGCONT resumes it', async () => {
    const { proc: server, port } = await startEchoServer();
    const record = path.join(tmp, 'stopped-detach.jsonl');
    const tracer = await attach(server.pid, ['--record', record, '--interval', '0.05']);
    await usr1Rounds(server.pid, port, 0, K);

    server.child.kill('SIGSTOP');
    await waitForState(server.pid, /^[tT]/);
    await waitForSnapshot(record, (s) => s.counters.groupStops === 1, 'the group-stop');
    tracer.child.kill('SIGINT');
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    assert.equal(summary.endReason, 'SIGINT');
    assert.equal(summary.counters.groupStops, 1);
    // Detached and still in its job-control stop, as the shell that stopped it expects.
    assert.match(statusField(server.pid, 'State') ?? 'gone', /^T \(stopped\)/);
    assert.equal(statusField(server.pid, 'TracerPid'), '0');

    server.child.kill('SIGCONT');
    await waitForState(server.pid, /^[RS]/);
    await assertServingUntraced(server.pid, port, K);
  });

  it('attaches to a target already stopped by job control and leaves it stopped', async () => {
    const { proc: server, port } = await startEchoServer();
    await usr1Rounds(server.pid, port, 0, 1);
    server.child.kill('SIGSTOP');
    await waitForState(server.pid, /^T/);
    const record = path.join(tmp, 'attach-stopped.jsonl');
    const tracer = await attach(server.pid, ['--record', record, '--interval', '0.05']);
    await waitForSnapshot(record, (s) => s.counters.groupStops === 1, 'the group-stop found at the attach');
    assert.match(statusField(server.pid, 'State') ?? 'gone', /^[tT]/, 'the attach did not resume it');
    tracer.child.kill('SIGINT');
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    assert.equal(summary.endReason, 'SIGINT');
    assert.equal(summary.counters.groupStops, 1, 'the stop found at the attach');
    assert.match(statusField(server.pid, 'State') ?? 'gone', /^T \(stopped\)/);
    assert.equal(statusField(server.pid, 'TracerPid'), '0');
    server.child.kill('SIGCONT');
    await waitForState(server.pid, /^[RS]/);
    await assertServingUntraced(server.pid, port, 1);
  });

  it('lets the traced server answer 200 requests correctly and counts its echo syscalls', async () => {
    const { proc: server, port } = await startEchoServer();
    const record = path.join(tmp, 'load.jsonl');
    const tracer = await attach(server.pid, ['--record', record, '--interval', '0.05']);
    const requests = 200;
    for (let i = 0; i < requests; i++) {
      const line = `line ${i} ${'x'.repeat(i % 50)}\n`;
      assert.equal(await echo(port, line), line, `request ${i}`);
    }
    await usr1Rounds(server.pid, port, 0, K);
    // The client has the last reply before the server's write() has returned: wait until
    // iotrace has seen that return, or a detach now would (rightly) not count that write.
    const connections = requests + K;
    const succeeded = (s: Snapshot, name: string): number => {
      const x = s.syscalls.find((y) => y.name === name);
      return x ? x.calls - x.errors : 0;
    };
    await waitForSnapshot(record, (s) => succeeded(s, 'write') >= connections, `${connections} writes`);

    tracer.child.kill('SIGINT');
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    const calls = (name: string): number => summary.syscalls.find((s) => s.name === name)?.calls ?? 0;
    const ok = (name: string): number => {
      const s = summary.syscalls.find((x) => x.name === name);
      return s ? s.calls - s.errors : 0;
    };
    assert.ok(calls('read') + calls('recvfrom') > 0, 'read or recvfrom');
    assert.ok(calls('write') + calls('sendto') > 0, 'write or sendto');
    assert.ok(calls('epoll_wait') > 0, 'epoll_wait');
    // One connection per request: every one accepted exactly once (the others are the
    // EAGAIN that ends accept_all's loop) and answered with one write.
    assert.equal(ok('accept4'), connections);
    const accept4 = summary.syscalls.find((s) => s.name === 'accept4');
    assert.equal(accept4?.eagain, accept4?.errors, 'accept4 fails only with EAGAIN');
    assert.equal(ok('write'), connections);
    const tcp = summary.fds.filter((f) => f.type === 'tcp' && f.pid === server.pid);
    assert.ok(tcp.length > 0, `no tcp descriptor in ${JSON.stringify(summary.fds)}`);
    assert.ok(tcp.some((f) => /127\.0\.0\.1:\d+ \(listening\)/.test(f.desc)), `no listening socket in ${JSON.stringify(tcp)}`);
    await assertServingUntraced(server.pid, port, K);
  });
});

describe('run mode', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-run-'));
  });
  afterEach(killAll);
  after(() => {
    killAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("exits with the command's exit status", async () => {
    const r = await iotraceDone(['run', '--no-ui', '--', 'sh', '-c', 'exit 3'], EXIT_MS);
    assert.equal(r.code, 3, r.stderr);
  });

  it('exits with 128 + the signal number when a signal kills the command', async () => {
    const r = await iotraceDone(['run', '--json', '--', 'sh', '-c', 'kill -TERM $$'], EXIT_MS);
    assert.equal(r.code, 128 + 15, r.stderr);
    const summary = JSON.parse(r.stdout) as Summary;
    assert.equal(summary.endReason, 'target-exit');
    assert.deepEqual(summary.exit, { code: null, signal: 'SIGTERM', coreDumped: false });
  });

  it('passes its stdout and stderr on to the command', async () => {
    const r = await iotraceDone(['run', '--no-ui', '--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2'], EXIT_MS);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^to-stdout$/m);
    assert.match(r.stderr, /^to-stderr$/m);
  });

  it('forwards SIGTERM to the command and exits with its status once it has exited', async () => {
    // --json: the summary is on stdout, the server's "port=" line on stderr.
    const tracer = iotrace(['run', '--json', '--', ECHO_SERVER, '--port', '0']);
    const pid = Number((await tracer.waitFor(/iotrace: started pid (\d+)/))[1]);
    adopt(pid);
    const port = Number((await tracer.waitFor(/port=(\d+)/))[1]);
    assert.equal(await echo(port, 'under run\n'), 'under run\n');
    await usr1Rounds(pid, port, 0, K);

    tracer.child.kill('SIGTERM');
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    assert.equal(summary.endReason, 'target-exit');
    assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false });
    assert.equal(summary.counters.signals, K, 'the SIGUSR1s, and SIGTERM read from the signalfd');
    assert.equal(statusField(pid, 'State'), undefined, 'the server is gone (reaped)');
  });

  it('forwards a SIGTERM sent the moment it reports the start, and never orphans the command', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const tracer = iotrace(['run', '--json', '--', ECHO_SERVER, '--port', '0']);
      const pid = Number((await tracer.waitFor(/iotrace: started pid (\d+)/))[1]);
      adopt(pid);
      tracer.child.kill('SIGTERM');
      const exit = await tracer.exited(EXIT_MS);
      // 0: the server took SIGTERM through its signalfd; 143: it came before the server
      // blocked SIGTERM (or before its exec) and killed it. Either way iotrace reports it.
      const ok = exit.signal === null && (exit.code === 0 || exit.code === 128 + 15);
      const left = statusField(pid, 'State');
      outcomes.push(ok && left === undefined ? 'forwarded' : `iotrace ended with ${JSON.stringify(exit)}; command ${left === undefined ? 'gone' : `left in state ${left}`}`);
    }
    assert.deepEqual(outcomes, Array(10).fill('forwarded'));
  });

  /**
   * With --all-syscalls the command runs on, untraced, serving. Under the
   * seccomp filter it cannot (untraced, every filtered syscall would fail with
   * ENOSYS), so iotrace ends it with SIGTERM, says why, and leaves nothing.
   */
  async function assertDetachOutcome(filter: string, pid: number, port: number, summary: Summary, stderr: string): Promise<void> {
    if (filter !== 'with the seccomp filter') {
      assert.equal(summary.exit, null);
      await assertServingUntraced(pid, port, K);
      return;
    }
    assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false }, 'echo-server exits 0 on SIGTERM');
    assert.match(stderr, /cannot run untraced; --all-syscalls lets a command run on/);
    assert.equal(statusField(pid, 'State'), undefined, 'the command was left running under a filter with no tracer');
  }

  // eBPF has no filter to leave behind: the command runs on, as with --all-syscalls.
  const RUN_FLAGS = {
    'with the seccomp filter': ['--backend', 'ptrace'],
    'with --all-syscalls': ['--backend', 'ptrace', '--all-syscalls'],
    'under eBPF': ['--backend', 'ebpf'],
  } as const;
  for (const filter of Object.keys(RUN_FLAGS) as Array<keyof typeof RUN_FLAGS>) {
    it(`after --duration: the command runs on untraced with --all-syscalls, is ended cleanly under the filter (${filter})`, async () => {
      const extra = RUN_FLAGS[filter];
      const tracer = iotrace(['run', '--json', '--duration', '1', ...extra, '--', ECHO_SERVER, '--port', '0']);
      const pid = Number((await tracer.waitFor(/iotrace: started pid (\d+)/))[1]);
      adopt(pid);
      const port = Number((await tracer.waitFor(/port=(\d+)/))[1]);
      await usr1Rounds(pid, port, 0, K);
      assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
      const summary = summaryOf(tracer);
      assert.equal(summary.endReason, 'duration');
      await assertDetachOutcome(filter, pid, port, summary, tracer.stderr());
    });

    // Only ptrace sees an ignored signal (a signal-delivery-stop), which is how this test
    // knows the first SIGHUP was passed on; the kernel drops it before any eBPF probe.
    if (filter === 'under eBPF') continue;
    it(`on a second SIGHUP (the command ignored the first): runs on with --all-syscalls, ended cleanly under the filter (${filter})`, async () => {
      const extra = RUN_FLAGS[filter];
      const record = path.join(tmp, `second-signal${extra.length}.jsonl`);
      // The ignored SIGHUP survives the exec; echo-server neither blocks nor handles it.
      const tracer = iotrace(['run', '--json', '--record', record, '--interval', '0.05', ...extra, '--', 'sh', '-c', `trap '' HUP; exec ${ECHO_SERVER} --port 0`]);
      const pid = Number((await tracer.waitFor(/iotrace: started pid (\d+)/))[1]);
      adopt(pid);
      const port = Number((await tracer.waitFor(/port=(\d+)/))[1]);
      await usr1Rounds(pid, port, 0, K);
      // The recording shows iotrace is past its start-up. Traced, an ignored signal still
      // makes a signal-delivery-stop: that is how it tells the first SIGHUP was passed on
      // (signals do not queue: a second one sent before iotrace handled the first would
      // merge with it).
      await waitForSnapshot(record, (s) => s.counters.signals === K, 'the SIGUSR1s');
      tracer.child.kill('SIGHUP');
      await waitForSnapshot(record, (s) => s.counters.signals === K + 1, 'the forwarded SIGHUP');
      assert.equal(await echo(port, 'ignored it\n'), 'ignored it\n');
      tracer.child.kill('SIGHUP');
      assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
      const summary = summaryOf(tracer);
      assert.equal(summary.endReason, 'SIGHUP');
      await assertDetachOutcome(filter, pid, port, summary, tracer.stderr());
    });
  }
});
