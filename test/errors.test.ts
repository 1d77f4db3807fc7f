// SPDX-License-Identifier: MIT
// Every mistake a user can make (bad pid, bad target, bad argument, bad file, full disk)
// gets one clear line on stderr and a non-zero exit, never a stack, and leaves the target untouched.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  assertRunningUntraced,
  echo,
  IOTRACE,
  iotrace,
  iotraceDone,
  killAll,
  sleep,
  start,
  startEchoServer,
  statusField,
  type Proc,
} from './harness';
import { assertAnnounced, exactIoUnder } from './exact-io';
import { assertUserError } from './user-error';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const WAIT_MS = 10_000;

type Done = Awaited<ReturnType<typeof iotraceDone>>;

/** A command-line usage error: exit 2 and a message naming the bad value, no stack. */
function assertUsageError(res: Done, message: RegExp): void {
  const ctx = `exit ${res.code}/${res.signal}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`;
  assert.ok(!res.stderr.includes('    at '), `a stack trace was printed:\n${ctx}`);
  assert.equal(res.code, 2, ctx);
  assert.match(res.stderr, message, ctx);
  // The same one-line shape as every other error.
  assertUserError(res, message, 2);
}

/** Runs a command to its end (bounded), like iotraceDone for any program. */
async function runDone(cmd: string, args: string[], timeoutMs = 30_000): Promise<Done> {
  const p = start(cmd, args);
  const e = await p.exited(timeoutMs);
  return { ...e, stdout: p.stdout(), stderr: p.stderr() };
}

/** A pid no process or thread has now: counted down from pid_max, where pids are handed out last. */
function freePid(): number {
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = max - 1; pid > 300; pid--) {
    if (!fs.existsSync(`/proc/${pid}`)) return pid;
  }
  throw new Error('no free pid below pid_max');
}

/** Context switches of a task: unchanged means nothing (ptrace stop, signal) woke it. */
function ctxtSwitches(pid: number): number {
  return Number(statusField(pid, 'voluntary_ctxt_switches')) + Number(statusField(pid, 'nonvoluntary_ctxt_switches'));
}

async function until(what: string, ok: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const SYS_CLOCK_NANOSLEEP = 230; // x86_64, arch/x86/entry/syscalls/syscall_64.tbl

/** Starts `sleep 60` and resolves once it sits in clock_nanosleep (its start-up syscalls are done). */
async function startSleeper(): Promise<Proc> {
  const p = start('sleep', ['60']);
  await until(`sleep ${p.pid} to block in clock_nanosleep`, () => {
    try {
      return Number(fs.readFileSync(`/proc/${p.pid}/syscall`, 'utf8').split(' ')[0]) === SYS_CLOCK_NANOSLEEP;
    } catch {
      return false;
    }
  });
  return p;
}

/** Line count, size and snapshot times of a recording, for failure messages. */
function describeFile(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const times = text
    .split('\n')
    .filter((l) => l.startsWith('{"type":"snapshot"'))
    .map((l) => `${Math.round(JSON.parse(l).snapshot.tNs / 1e6)}`);
  return `${text.length} bytes, ${text.split('\n').length - 1} lines, snapshots at ${times.join(' ')} ms`;
}

/** Kills what we started and waits for it, so no process outlives its test. */
async function stop(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  await p.exited(WAIT_MS);
}

afterEach(() => killAll());
after(() => killAll());

describe('attach refuses a pid it cannot trace', () => {
  it('says "no such process" for a pid nobody has', async () => {
    const pid = freePid();
    assertUserError(await iotraceDone(['attach', String(pid)]), new RegExp(`no such process: ${pid}\\b`));
  });

  it('refuses to trace iotrace itself', async () => {
    // exec keeps the shell's pid, so $$ becomes iotrace's own pid.
    const res = await runDone('sh', ['-c', 'exec "$0" "$1" attach $$', process.execPath, IOTRACE]);
    assertUserError(res, /iotrace itself/);
  });

  // ptrace's permission model; eBPF's (CAP_BPF, CAP_PERFMON) is test/ebpf.test.ts's.
  it('says permission denied and why without CAP_SYS_PTRACE, and leaves the target untouched', async () => {
    // Root with CAP_SYS_PTRACE dropped, against a process of another uid: the
    // kernel's ptrace_may_access() refuses exactly as it refuses a non-root
    // user, and iotrace still reads its own files, wherever the checkout is.
    const target = start('setpriv', [...NOBODY, 'sleep', '60']);
    await until('the sleeper runs as nobody', () => statusField(target.pid, 'Uid')?.split(/\s+/)[0] === '65534' && fs.readFileSync(`/proc/${target.pid}/comm`, 'utf8').trim() === 'sleep');
    const before = ctxtSwitches(target.pid);
    const res = await runDone('setpriv', ['--bounding-set=-sys_ptrace', '--inh-caps=-sys_ptrace', process.execPath, IOTRACE, 'attach', '--backend', 'ptrace', String(target.pid)]);
    assertUserError(res, /permission denied/);
    assert.match(res.stderr, /without CAP_SYS_PTRACE.*uid 65534/);
    assertRunningUntraced(target.pid);
    assert.equal(ctxtSwitches(target.pid), before, 'the target was woken (stopped or signalled)');
    await stop(target);
  });

  it('names the tracer when the target is already traced by strace, and the target runs on once strace leaves', async () => {
    const target = await startSleeper();
    const strace = start('strace', ['-o', '/dev/null', '-p', String(target.pid)]);
    try {
      await strace.waitFor(/attached/);
      // ptrace allows one tracer per process (eBPF watches alongside: test/ebpf.test.ts).
      const res = await iotraceDone(['attach', '--backend', 'ptrace', String(target.pid)]);
      assertUserError(res, new RegExp(`already traced by pid ${strace.pid}\\b`));
      assert.match(res.stderr, /permission denied/);
      assert.equal(statusField(target.pid, 'TracerPid'), String(strace.pid), 'strace lost its tracee');

      // A failed attach leaves an existing recording as it was, and creates none.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-keep-'));
      try {
        const kept = path.join(dir, 'kept.jsonl');
        fs.writeFileSync(kept, 'keep me\n', { mode: 0o644 });
        const again = await iotraceDone(['attach', '--backend', 'ptrace', String(target.pid), '--record', kept]);
        assertUserError(again, /already traced/);
        assert.equal(fs.readFileSync(kept, 'utf8'), 'keep me\n', 'the failed attach truncated the recording');
        const fresh = path.join(dir, 'fresh.jsonl');
        await iotraceDone(['attach', '--backend', 'ptrace', String(target.pid), '--record', fresh]);
        assert.equal(fs.existsSync(fresh), false, 'the failed attach created a recording');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      // SIGINT: strace detaches and exits.
      await stop(strace, 'SIGINT');
    }
    assertRunningUntraced(target.pid);
    await stop(target);
  });

  it('names the first iotrace, not its tracer thread, when a second ptrace iotrace comes; auto watches beside it via eBPF; both count exactly', async () => {
    const { expected, summaries } = await exactIoUnder(['ptrace', 'auto'], async (target, [first]) => {
      // TracerPid is the first iotrace's tracer thread; the user must be told its process.
      const tracerTid = Number(statusField(target.pid, 'TracerPid'));
      assert.equal(statusField(tracerTid, 'Tgid'), String(first.pid), 'the tracer is not a thread of the first iotrace');
      assert.notEqual(tracerTid, first.pid, 'the tracer thread is the main thread: this test would not tell them apart');
      const res = await iotraceDone(['attach', '--backend', 'ptrace', '--no-ui', String(target.pid)]);
      assertUserError(res, new RegExp(`permission denied: cannot trace pid ${target.pid}: already traced by pid ${first.pid} \\(iotrace\\)$`));
      assert.equal(statusField(target.pid, 'TracerPid'), String(tracerTid), 'the first iotrace lost its tracee');
    });
    // The refused one disturbed neither the first nor the eBPF one: both see every
    // announced syscall, and exact-io ran to its normal end (exactIoUnder checks exit 0).
    assert.equal(summaries[1].backendReason, 'auto: the eBPF probes loaded');
    assertAnnounced('the first (ptrace) iotrace', summaries[0], expected);
    assertAnnounced('the auto (eBPF) iotrace beside it', summaries[1], expected);
    assert.equal(summaries[0].counters.unmatchedExits, 0);
  });

  describe('pid 1 (init): ptrace is refused before anything touches it; eBPF may watch it', () => {
    it('--backend ptrace: refused, saying why and that --backend ebpf watches it', async () => {
      const res = await iotraceDone(['attach', '--backend', 'ptrace', '--no-ui', '-d', '1', '1']);
      assertUserError(res, /pid 1 \(.+\) is init: ptrace would stop it at every syscall.*--backend ebpf watches it without stopping it/);
      assert.equal(statusField(1, 'TracerPid'), '0');
    });

    it('--backend auto where eBPF cannot load: refused rather than falling back to ptrace, with eBPF\'s reason', async () => {
      // Root without the capabilities eBPF needs: the probes fail to load, as for a user.
      const res = await runDone('setpriv', ['--bounding-set=-bpf,-perfmon,-sys_admin', '--inh-caps=-bpf,-perfmon,-sys_admin', process.execPath, IOTRACE, 'attach', '--no-ui', '-d', '1', '1']);
      assertUserError(res, /pid 1 \(.+\) is init: ptrace would stop it.*eBPF, which would only watch it, is unavailable: .*CAP_BPF/);
      assert.equal(statusField(1, 'TracerPid'), '0');
    });
  });

  for (const backend of ['auto', 'ptrace', 'ebpf'] as const) {
    it(`refuses a zombie (--backend ${backend})`, async () => {
      // The child exits at once; the parent never waits until SIGTERM, so the child stays a zombie.
      const parent = start('perl', [
        '-e',
        '$| = 1; my $c = fork() // die "fork: $!"; exit 0 if $c == 0; ' +
          '$SIG{TERM} = sub { waitpid($c, 0); exit 0 }; print "child=$c\\n"; sleep 60 while 1;',
      ]);
      try {
        const zombie = Number((await parent.waitFor(/child=(\d+)/))[1]);
        await until(`pid ${zombie} to become a zombie`, () => statusField(zombie, 'State')?.startsWith('Z') === true);
        assertUserError(await iotraceDone(['attach', '--backend', backend, String(zombie)]), new RegExp(`pid ${zombie} is a zombie`));
      } finally {
        await stop(parent, 'SIGTERM');
      }
    });

    it(`refuses a kernel thread (pid 2, kthreadd; --backend ${backend})`, async () => {
      assert.equal(fs.readFileSync('/proc/2/comm', 'utf8').trim(), 'kthreadd', 'pid 2 is not kthreadd here');
      assertUserError(await iotraceDone(['attach', '--backend', backend, '2']), /pid 2 is a kernel thread/);
    });
  }
});

describe('bad arguments are usage errors (exit 2) caught before anything starts', () => {
  const cases: Array<[string[], RegExp]> = [
    [['attach', 'abc'], /'abc'.*a pid is a positive integer/],
    [['attach', '0'], /'0'.*between 1 and 4194304/],
    [['attach', '1', '--duration', '-3'], /'-3'.*greater than 0/],
    [['attach', '1', '--interval', '0.001'], /'0\.001'.*at least 0\.05 s/],
    [['attach'], /missing required argument 'pid'/],
  ];
  for (const [args, message] of cases) {
    it(`rejects "iotrace ${args.join(' ')}" with exit 2 and a message`, async () => {
      assertUsageError(await iotraceDone(args), message);
    });
  }

  it('says "command not found" for run of a missing command', async () => {
    assertUserError(await iotraceDone(['run', '--', '/nonexistent/cmd']), /command not found: \/nonexistent\/cmd/);
  });

  it('names the cause when exec fails: a missing #! interpreter', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-exec-'));
    try {
      const script = path.join(dir, 'no-interpreter');
      fs.writeFileSync(script, '#!/nonexistent/interpreter\n', { mode: 0o755 });
      const res = await iotraceDone(['run', '--', script]);
      assertUserError(res, new RegExp(`cannot execute ${script}: No such file or directory .*interpreter`));
      assert.equal(res.stdout, '', 'a summary was printed for a command that never started');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs an executable without #! through /bin/sh, as execvp does', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-exec-'));
    try {
      const script = path.join(dir, 'plain-script');
      fs.writeFileSync(script, 'exit 5\n', { mode: 0o755 });
      const res = await iotraceDone(['run', '--no-ui', '--', script]);
      assert.equal(res.code, 5, res.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says "not an executable" for run of a file without execute permission', async () => {
    assertUserError(await iotraceDone(['run', '--', '/etc/passwd']), /not an executable file: \/etc\/passwd/);
  });
});

describe('a recording that cannot be written', () => {
  it('fails with ENOENT before attaching when the directory does not exist', async () => {
    const target = await startSleeper();
    const before = ctxtSwitches(target.pid);
    const file = '/nonexistent-dir/x.jsonl';
    // ptrace: its attach wakes the target, which makes "nothing was attached" checkable.
    const res = await iotraceDone(['attach', '--backend', 'ptrace', String(target.pid), '--record', file]);
    assertUserError(res, new RegExp(`cannot write recording ${file}: ENOENT`));
    assertRunningUntraced(target.pid);
    // A PTRACE_SEIZE + PTRACE_INTERRUPT would have woken the sleeper at least once.
    assert.equal(ctxtSwitches(target.pid), before, 'the target was stopped or woken: it was attached');

    // Control: a real attach does wake it, so the check above can fail.
    const ok = await iotraceDone(['attach', '--backend', 'ptrace', String(target.pid), '--duration', '0.2', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ctxtSwitches(target.pid) > before, 'an attach did not change the context switch count');
    assertRunningUntraced(target.pid);
    await stop(target);
  });
});

describe('a full disk while recording', () => {
  it('warns ENOSPC, traces to the end, keeps the file readable up to its last complete line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-enospc-'));
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=40k', 'tmpfs', dir], { encoding: 'utf8', timeout: WAIT_MS });
    if (mount.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      assert.fail(`mount -t tmpfs failed: ${mount.stderr || mount.error}`);
    }
    let tracer: Proc | undefined;
    let traffic: Promise<void> | undefined;
    let trafficOn = true;
    try {
      // Snapshots of the echo server are ~2.5 KB, one per 0.1 s when the machine is idle but
      // far fewer under load; a filler leaves 8 KiB, so the disk is full after a few snapshots
      // however slow the machine, long before --duration ends.
      fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc(32 * 1024));
      const free = fs.statfsSync(dir);
      assert.equal(free.bavail * free.bsize, 8 * 1024, 'unexpected free space on the tmpfs');
      const file = path.join(dir, 'r.jsonl');
      const { proc: server, port } = await startEchoServer();
      // Bounded client loop, so snapshots have something to count and the summary counts more than the file.
      const trafficEnd = Date.now() + 15_000;
      let echoes = 0;
      let trafficError: unknown;
      traffic = (async () => {
        while (trafficOn && Date.now() < trafficEnd) {
          const reply = await echo(port, `hello ${echoes}\n`);
          if (reply !== `hello ${echoes}\n`) throw new Error(`echo ${echoes} answered ${JSON.stringify(reply)}`);
          echoes++;
          await sleep(2);
        }
      })().catch((err) => {
        trafficError = err;
      });
      tracer = iotrace(['attach', String(server.pid), '--record', file, '--interval', '0.1', '--duration', '3', '--json']);
      const exit = await tracer.exited(30_000);
      trafficOn = false;
      await traffic;
      assert.equal(trafficError, undefined, 'the echo server failed a client while traced');
      const stderr = tracer.stderr();
      assert.ok(!stderr.includes('    at '), stderr);
      assert.deepEqual(exit, { code: 0, signal: null }, stderr);
      assert.match(stderr, /^iotrace: warning: .*ENOSPC.*$/m, `no ENOSPC warning; the file holds ${describeFile(file)}`);
      const held = Number(/file holds the first (\d+) lines/.exec(stderr)?.[1]);

      const summary = JSON.parse(tracer.stdout());
      assert.equal(summary.endReason, 'duration');
      assert.ok(summary.durationNs >= 2.9e9, `durationNs ${summary.durationNs}`);
      const lost = (summary.warnings as string[]).find((w) => /lines lost/.test(w));
      assert.ok(lost, `no "lines lost" warning in ${JSON.stringify(summary.warnings)}`);
      assert.match(lost, /ENOSPC/);
      assert.equal(Number(/holds (\d+) complete lines/.exec(lost)?.[1]), held, lost);

      // Cut back to whole lines, every one of them parses.
      const text = fs.readFileSync(file, 'utf8');
      assert.ok(text.endsWith('\n'), 'the file ends in the middle of a line');
      const lines = text.trimEnd().split('\n').map((l, i) => {
        try {
          return JSON.parse(l);
        } catch (err) {
          throw new Error(`line ${i + 1} does not parse: ${String(err)}`);
        }
      });
      assert.equal(lines.length, held);
      assert.equal(lines[0].type, 'header');
      assert.ok(lines.slice(1).every((l) => l.type === 'snapshot'), 'only snapshots after the header');
      assert.ok(lines.length >= 2, 'not even one snapshot fitted');
      // Tracing went on after the disk filled: the summary counts more than the last snapshot kept.
      const keptCalls = lines[lines.length - 1].snapshot.syscalls.reduce((n: number, s: { calls: number }) => n + s.calls, 0);
      assert.ok(summary.totals.calls > keptCalls, `summary ${summary.totals.calls} calls, last kept snapshot ${keptCalls}`);

      const report = await iotraceDone(['report', file, '--json']);
      assert.equal(report.code, 0, report.stderr);
      assert.match(report.stderr, /no summary line/);
      assert.equal(JSON.parse(report.stdout).totals.calls, keptCalls);

      assert.equal(await echo(port, 'still there\n'), 'still there\n');
      assertRunningUntraced(server.pid);
      assert.ok(echoes > 0);
    } finally {
      trafficOn = false;
      if (tracer) await stop(tracer);
      await traffic;
      killAll();
      const umount = spawnSync('umount', [dir], { encoding: 'utf8', timeout: WAIT_MS });
      if (umount.status !== 0) spawnSync('umount', ['-l', dir], { timeout: WAIT_MS });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
