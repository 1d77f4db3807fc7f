// SPDX-License-Identifier: MIT
// A tracee controls the bytes iotrace reads: test/workloads/hostile passes NULL, unmapped
// and half-mapped pointers and huge counts to the syscalls whose memory iotrace reads,
// names a thread with 15 odd bytes (a fake "Tgid:" line among them), and opens and maps
// files whose paths hold newlines, quotes, invalid UTF-8 and ~3000 bytes. Under both
// backends iotrace must exit 0 with valid JSON, count each call and errno as strace -f -c
// does, show the paths whole and escaped, and leave the workload's output as it is untraced.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Summary } from '../agent/summary';
import { iotrace, iotraceDone, killAll, sleep, start, WORKLOADS } from './harness';
import { straceRun, type SyscallCount } from './strace';

const HOSTILE = path.join(WORKLOADS, 'hostile');
const TIMEOUT_MS = 30_000;
/** The syscalls hostile feeds bad arguments to, with what it says each returned. */
const INSPECTED = ['epoll_ctl', 'select', 'poll', 'ppoll', 'io_uring_setup', 'ioctl'] as const;
/** pthread_join sleeps in futex or not, whoever traces: runs cannot agree on it. */
const RUN_DEPENDENT = new Set(['futex']);

interface Report {
  comm_hex: string;
  odd_hex: string;
  bad_utf8_hex: string;
  deep_levels: number;
  deep_name_len: number;
  calls: Record<(typeof INSPECTED)[number], { calls: number; EFAULT: number; EINVAL: number; other: number }>;
}

const dirs: string[] = [];
/** A fresh directory for one run whose own name is hostile too: it is in argv and every path. */
function workDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-hostile\n"%s\'\\-'));
  dirs.push(dir);
  return dir;
}

function reportLine(text: string): string {
  const m = /^\{"comm_hex".*\}$/m.exec(text);
  assert.ok(m, `no hostile report line in:\n${text}`);
  return m[0];
}

function summaryOf(stdout: string, stderr: string): Summary {
  try {
    return JSON.parse(stdout) as Summary;
  } catch (err) {
    throw new Error(`iotrace --json printed no JSON document (${String(err)})\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
}

/** The three files hostile opens and maps under dir, as iotrace should name them. */
function expectedPaths(dir: string, r: Report): string[] {
  const name = (hex: string): string => Buffer.from(hex, 'hex').toString('utf8');
  const levels = Array.from({ length: r.deep_levels }, (_, i) => String.fromCharCode(97 + i) + 'd'.repeat(r.deep_name_len - 1));
  return [path.join(dir, name(r.odd_hex)), path.join(dir, name(r.bad_utf8_hex)), path.join(dir, ...levels, name(r.odd_hex))];
}

function assertPathsShown(summary: Summary, json: string, dir: string, r: Report): void {
  const descs = summary.fds.map((f) => f.desc);
  for (const p of expectedPaths(dir, r)) {
    assert.ok(descs.includes(p), `${JSON.stringify(p)} (${p.length} bytes) missing from fds: ${JSON.stringify(descs)}`);
    // Escaped as JSON escapes it: newline, quote, backslash, tab never raw in the output.
    assert.ok(json.includes(JSON.stringify(p)), `${JSON.stringify(p)} not in the --json text as such`);
  }
  assert.ok(expectedPaths(dir, r)[2].length > 3000, 'the deep path is longer than any short buffer');
}

function countsOf(summary: Summary): Map<string, SyscallCount> {
  return new Map(summary.syscalls.map((s) => [s.name, { calls: s.calls, errors: s.errors }]));
}

function pick(counts: Map<string, SyscallCount>, names: Iterable<string>): Record<string, SyscallCount> {
  const out: Record<string, SyscallCount> = {};
  for (const n of names) out[n] = counts.get(n) ?? { calls: 0, errors: 0 };
  return out;
}

describe('hostile inputs', () => {
  afterEach(killAll);
  after(() => {
    killAll();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  for (const backend of ['ptrace', 'ebpf'] as const) {
    it(`run (${backend}) survives hostile arguments, counts them as strace -f -c does, and leaves the workload's output alone`, async () => {
      const [ourDir, straceDir, plainDir] = [workDir(), workDir(), workDir()];
      const untraced = start(HOSTILE, [plainDir]);
      const [ours, theirs, plain] = await Promise.all([
        iotraceDone(['run', '--json', '--backend', backend, '--', HOSTILE, ourDir], TIMEOUT_MS),
        straceRun([HOSTILE, straceDir]),
        untraced.exited(TIMEOUT_MS),
      ]);
      assert.equal(ours.code, 0, `iotrace run failed:\n${ours.stderr}`);
      assert.equal(theirs.exitCode, 0, `hostile under strace failed:\n${theirs.stderr}`);
      assert.deepEqual(plain, { code: 0, signal: null }, untraced.stderr());

      // With --json the command's stdout goes to iotrace's stderr: the same line as untraced.
      const line = reportLine(untraced.stdout());
      assert.equal(reportLine(ours.stderr), line);
      assert.equal(reportLine(theirs.stdout), line);
      const report = JSON.parse(line) as Report;

      const summary = summaryOf(ours.stdout, ours.stderr);
      const startedPid = Number(/iotrace: started pid (\d+)/.exec(ours.stderr)?.[1]);
      assert.equal(summary.endReason, 'target-exit');
      assert.deepEqual(summary.exit, { code: 0, signal: null, coreDumped: false });
      assert.equal(summary.target.cmdline, `${HOSTILE} ${ourDir}`, 'argv, newline and quotes included, intact');

      // Each inspected call: counted, failed with the errno hostile saw, as strace saw it.
      for (const name of INSPECTED) {
        const s = summary.syscalls.find((x) => x.name === name);
        const want = report.calls[name];
        assert.ok(s, `${name} missing from the summary`);
        assert.deepEqual(
          { calls: s.calls, errors: s.errors, errnos: s.errnos },
          {
            calls: want.calls,
            errors: want.EFAULT + want.EINVAL + want.other,
            errnos: Object.fromEntries(Object.entries({ EFAULT: want.EFAULT, EINVAL: want.EINVAL }).filter(([, n]) => n > 0)),
          },
          `${name} under ${backend}`,
        );
      }
      const counts = countsOf(summary);
      assert.deepEqual(pick(counts, INSPECTED), pick(theirs.counts, INSPECTED));
      // ptrace's seccomp filter stops on I/O calls only: those are compared; eBPF sees all.
      const names = [...new Set(backend === 'ptrace' ? counts.keys() : [...counts.keys(), ...theirs.counts.keys()])].filter((n) => !RUN_DEPENDENT.has(n));
      assert.deepEqual(pick(counts, names), pick(theirs.counts, names), 'iotrace (actual) and strace -f -c (expected) disagree');

      // The thread named "\nTgid:\t1…" is hostile's own, not pid 1's.
      assert.equal(summary.counters.clones, 1);
      assert.equal(summary.threads.length, 2, JSON.stringify(summary.threads));
      for (const t of summary.threads) assert.equal(t.pid, startedPid);

      // ptrace reads each link at the syscall; eBPF at a snapshot, by when hostile is gone (see below).
      if (backend === 'ptrace') assertPathsShown(summary, ours.stdout, ourDir, report);
    });
  }

  it('run (ebpf) names the hostile paths whole while the files are open', async () => {
    const dir = workDir();
    const rec = path.join(dir, 'rec.jsonl');
    const tracer = iotrace(['run', '--json', '--backend', 'ebpf', '-r', rec, '--interval', '0.1', '--', HOSTILE, '--hold', dir]);
    const pid = Number((await tracer.waitFor(/iotrace: started pid (\d+)/))[1]);
    const report = JSON.parse(reportLine((await tracer.waitFor(/^\{"comm_hex".*\}$/m))[0])) as Report;
    // A snapshot that holds the deep link, then hostile may close its files and exit.
    const deep = JSON.stringify(expectedPaths(dir, report)[2]);
    const deadline = Date.now() + TIMEOUT_MS;
    while (!(fs.existsSync(rec) && fs.readFileSync(rec, 'utf8').includes(deep))) {
      assert.ok(Date.now() < deadline, `no snapshot named ${deep} within ${TIMEOUT_MS} ms`);
      await sleep(50);
    }
    process.kill(pid, 'SIGUSR1');
    assert.deepEqual(await tracer.exited(TIMEOUT_MS), { code: 0, signal: null }, tracer.stderr());
    assertPathsShown(summaryOf(tracer.stdout(), tracer.stderr()), tracer.stdout(), dir, report);
  });

  it('inspect --json shows the thread named with odd bytes (a fake "Tgid:" line) escaped and intact', async () => {
    const workload = start(HOSTILE, ['--hold', workDir()]);
    const report = JSON.parse(reportLine((await workload.waitFor(/^\{"comm_hex".*\}$/m))[0])) as Report;
    const ins = await iotraceDone(['inspect', String(workload.pid), '--json'], TIMEOUT_MS);
    process.kill(workload.pid, 'SIGUSR1');
    assert.deepEqual(await workload.exited(TIMEOUT_MS), { code: 0, signal: null });
    assert.equal(ins.code, 0, ins.stderr);
    const doc = JSON.parse(ins.stdout) as { inspection: { processes: Array<{ pid: number; threads: Array<{ tid: number; comm: string }> }> } };
    const [proc] = doc.inspection.processes;
    assert.equal(proc.pid, workload.pid);
    // /proc/<pid>/task/<tid>/stat gives the name raw; bytes that are not UTF-8 become U+FFFD.
    const comm = Buffer.from(report.comm_hex, 'hex').toString('utf8');
    assert.deepEqual(proc.threads.map((t) => t.comm).sort(), ['hostile', comm].sort());
    assert.ok(ins.stdout.includes(JSON.stringify(comm)), `${JSON.stringify(comm)} not in the --json text as such`);
  });
});
