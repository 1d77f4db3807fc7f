// SPDX-License-Identifier: MIT
// iotrace killed while it is attached, under load: for each backend (ptrace, eBPF) and each
// way a user or the system ends it (SIGKILL, SIGTERM, SIGINT, SIGHUP; and a real terminal
// closed under the dashboard), the echo server keeps answering the load correctly, is not
// stopped, has TracerPid 0 and got none of the signals sent to iotrace nor lost one of its
// own; none of the BPF programs, maps and links iotrace held stays loaded; the recording is
// valid up to its last complete line and, when iotrace could finish, ends with the summary.
import { after, afterEach, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Summary } from '../agent/summary';
import { heldBpfObjects, waitUntilUnloaded } from './bpf-objects';
import {
  assertRunningUntraced,
  echo,
  IOTRACE,
  iotrace,
  iotraceDone,
  killAll,
  NEEDS_ROOT,
  recordingLines,
  sleep,
  startEchoServer,
  startLoad,
  summaryOf,
  usr1Rounds,
  waitForSnapshot,
  type Proc,
} from './harness';

const BACKENDS = ['ptrace', 'ebpf'] as const;
const EXIT_MS = 15_000;
/** How long the kernel may take to free a dead iotrace's BPF objects (deferred to an RCU grace period). */
const UNLOAD_MS = 5_000;
/** SIGUSR1s sent to the server before and again after iotrace ends. */
const K = 3;
/** The load's own bound; each test stops it much sooner (loadResult). */
const LOAD_S = 60;

interface LoadResult {
  requests: number;
  errors: Record<string, number>;
}

/** Stops the load (still running: it was started for longer than any test) and returns its totals. */
async function loadResult(load: Proc): Promise<LoadResult> {
  assert.equal(load.child.exitCode, null, 'the load ended before the test stopped it');
  load.child.kill('SIGINT');
  assert.deepEqual(await load.exited(EXIT_MS), { code: 0, signal: null }, `the load generator failed: ${load.stderr()}`);
  return JSON.parse(load.stdout()) as LoadResult;
}

/**
 * The recording as `report` and a line-by-line reader see it: every complete line is JSON,
 * the first the header; with `endedBy` the last is the summary with that endReason,
 * otherwise (SIGKILL) there is no summary and report says so in a warning. Returns
 * report's summary.
 */
async function assertRecording(file: string, pid: number, endedBy: string | undefined): Promise<Summary> {
  const { lines, partial } = recordingLines(file);
  assert.equal(lines[0]?.type, 'header');
  assert.equal((lines[0] as { target?: { pid: number } }).target?.pid, pid);
  assert.ok(lines.some((l) => l.type === 'snapshot'), 'no snapshot line');
  const res = await iotraceDone(['report', file, '--json']);
  assert.equal(res.code, 0, `iotrace report failed: ${res.stderr}`);
  const report = summaryOf(res);
  if (endedBy === undefined) {
    assert.ok(!lines.some((l) => l.type === 'summary'), 'a summary line from a killed iotrace');
    assert.match(res.stderr, /^iotrace: warning: .*no summary line/m);
  } else {
    assert.equal(partial, '', 'iotrace ended cleanly but left a partial line');
    const last = lines[lines.length - 1] as { type: string; summary?: Summary };
    assert.equal(last.type, 'summary', 'the recording does not end with the summary');
    assert.equal(last.summary?.endReason, endedBy);
    assert.equal(report.endReason, endedBy);
    assert.equal(res.stderr, '', 'report warned about a complete recording');
  }
  assert.ok(report.totals.calls > 0, 'the recording counted none of the load');
  return report;
}

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-faults-'));
});
afterEach(killAll);
after(() => {
  killAll();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('iotrace killed while attached under load', () => {
  for (const backend of BACKENDS) {
    for (const sig of ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const graceful = sig !== 'SIGKILL';
      const name = `${backend}, ${sig}: the target serves on untraced and not stopped, with its signals, ${backend === 'ebpf' ? 'no BPF object left, ' : ''}the recording valid${graceful ? ' and summed up' : ''}`;
      it(name, { skip: backend === 'ebpf' && NEEDS_ROOT }, async (t: TestContext) => {
        const { proc: server, port } = await startEchoServer();
        const file = path.join(tmp, `${backend}-${sig}.jsonl`);
        const tracer = iotrace(['attach', String(server.pid), '--backend', backend, '--record', file, '--interval', '0.1', '--no-ui', '--json']);
        await tracer.waitFor(new RegExp(`iotrace: attached to pid ${server.pid} .* via ${backend}`), EXIT_MS);
        const objs = backend === 'ebpf' ? heldBpfObjects(tracer.pid) : undefined;

        const load = startLoad(port, LOAD_S, 8);
        await usr1Rounds(server.pid, port, 0, K);
        await waitForSnapshot(file, (s) => s.syscalls.some((x) => x.name === 'write' && x.calls > 100), 'the load', EXIT_MS);
        assert.equal(load.child.exitCode, null, 'the load ended before iotrace was killed');
        tracer.child.kill(sig);
        const exit = await tracer.exited(EXIT_MS);
        // Checked at once: the kernel detaches a dead tracer's tracees before its parent hears of its death.
        assertRunningUntraced(server.pid);
        const t0 = Date.now();
        if (objs) await waitUntilUnloaded(objs, UNLOAD_MS);
        if (objs) t.diagnostic(`BPF objects gone ${Date.now() - t0} ms after iotrace's exit`);

        if (graceful) {
          assert.deepEqual(exit, { code: 0, signal: null }, tracer.stderr());
          const summary = summaryOf(tracer);
          assert.equal(summary.endReason, sig);
          assert.equal(summary.exit, null, 'the target did not exit');
          // Only ptrace sees a signal's delivery.
          if (backend === 'ptrace') assert.equal(summary.counters.signals, K);
        } else {
          assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
        }
        assert.doesNotMatch(tracer.stderr(), /internal error|^ {4}at /m);

        // echo-server dies of SIGHUP and ends on SIGTERM or SIGINT: still answering, it got
        // none of them; its SIGUSR1 count says it lost none of its own.
        const result = await loadResult(load);
        assert.deepEqual(result.errors, { connect: 0, wrong: 0, status: 0, closed: 0 }, 'the load got a wrong or missing answer');
        assert.ok(result.requests > 0);
        await usr1Rounds(server.pid, port, K, K);
        assert.equal(await echo(port, 'after\n'), 'after\n');
        assertRunningUntraced(server.pid);
        await assertRecording(file, server.pid, graceful ? sig : undefined);
        t.diagnostic(`${result.requests} requests answered correctly across the ${sig}`);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------
// The terminal closed under the dashboard

const sockets: string[] = [];
function killTerminals(): void {
  for (const s of sockets.splice(0)) {
    try {
      execFileSync('tmux', ['-L', s, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
afterEach(killTerminals);
after(killTerminals);

/**
 * `iotrace attach` with its dashboard in a tmux terminal, run as an interactive shell runs
 * a job: when the terminal closes, the shell (the session leader, which the kernel sends
 * SIGHUP) passes SIGHUP on to iotrace. This shell also writes iotrace's exit status to a
 * file, since nobody can read the terminal any more.
 */
function dashboardInTerminal(args: string[], errFile: string, rcFile: string): string {
  const sock = `iotrace-faults-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  sockets.push(sock);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const shell = [
    `trap 'kill -HUP $p' HUP`,
    // A background job's stdin would be /dev/null: keep the terminal's for the dashboard's keys.
    'exec 3<&0',
    `${[process.execPath, IOTRACE, ...args].map(q).join(' ')} <&3 2>${q(errFile)} & p=$!`,
    // wait returns early when the trap runs; wait again until iotrace is gone.
    'while :; do wait $p; rc=$?; kill -0 $p 2>/dev/null || break; done',
    `echo $rc > ${q(rcFile)}`,
  ].join('\n');
  execFileSync('tmux', ['-L', sock, 'new-session', '-d', '-x', '120', '-y', '40', shell]);
  return sock;
}

async function waitForFile(file: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (text.endsWith('\n')) return text;
    if (Date.now() > deadline) throw new Error(`${file} not written within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('the terminal closed under the dashboard (SIGHUP, then EIO on every write)', () => {
  for (const backend of BACKENDS) {
    for (const how of ['kill-session', 'kill-server'] as const) {
      const name = `${backend}, tmux ${how}: iotrace detaches, records the summary and exits 0 without a stack trace; the target serves on`;
      it(name, { skip: backend === 'ebpf' && NEEDS_ROOT }, async () => {
        const { proc: server, port } = await startEchoServer();
        const file = path.join(tmp, `tty-${backend}-${how}.jsonl`);
        const errFile = path.join(tmp, `tty-${backend}-${how}.err`);
        const rcFile = path.join(tmp, `tty-${backend}-${how}.rc`);
        const sock = dashboardInTerminal(['attach', String(server.pid), '--backend', backend, '--record', file, '--interval', '0.1'], errFile, rcFile);
        const load = startLoad(port, LOAD_S, 8);
        await usr1Rounds(server.pid, port, 0, K);
        await waitForSnapshot(file, (s) => s.syscalls.some((x) => x.name === 'write' && x.calls > 100), 'the load', EXIT_MS);
        const tracerPid = Number(execFileSync('tmux', ['-L', sock, 'list-panes', '-F', '#{pane_pid}'], { encoding: 'utf8' }).trim());
        const objs = backend === 'ebpf' ? heldBpfObjects(Number(fs.readFileSync(`/proc/${tracerPid}/task/${tracerPid}/children`, 'utf8').trim())) : undefined;

        execFileSync('tmux', ['-L', sock, how === 'kill-session' ? 'kill-session' : 'kill-server']);
        const rc = await waitForFile(rcFile, EXIT_MS);
        const stderr = fs.readFileSync(errFile, 'utf8');
        assert.equal(rc, '0\n', `iotrace exited ${rc.trim()}: ${stderr}`);
        assert.doesNotMatch(stderr, /internal error|Assertion failed|^ {4}at /m);
        assertRunningUntraced(server.pid);
        if (objs) await waitUntilUnloaded(objs, UNLOAD_MS);

        const result = await loadResult(load);
        assert.deepEqual(result.errors, { connect: 0, wrong: 0, status: 0, closed: 0 });
        await usr1Rounds(server.pid, port, K, K);
        assertRunningUntraced(server.pid);
        await assertRecording(file, server.pid, 'SIGHUP');
      });
    }
  }
});
