// SPDX-License-Identifier: MIT
// A recording whose file is taken away (rm, rm -r, umount -l) or whose disk
// fills, under a real session of the echo server with traffic: iotrace warns
// once, traces on, says in the summary what was lost, leaves the server
// running untraced, and whatever file is left is one `iotrace report` reads.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { assertRunningUntraced, echo, iotrace, iotraceDone, killAll, sleep, startEchoServer, type Proc } from './harness';
import { keys, killTerminals, screen, terminal, waitScreen } from './terminal';

const WAIT_MS = 20_000;
const cleanups: Array<() => void> = [];

afterEach(() => {
  killTerminals();
  killAll();
  for (const c of cleanups.splice(0).reverse()) c();
});
after(() => killAll());

async function until(what: string, ok: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-recfault-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A tmpfs of `sizeKiB` on a new directory, filled but for `freeKiB`. */
function smallDisk(freeKiB: number, sizeKiB = 40): string {
  const dir = tmpDir();
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', dir], { encoding: 'utf8', timeout: WAIT_MS });
  assert.equal(mount.status, 0, `mount -t tmpfs failed: ${mount.stderr || mount.error}`);
  // Before the rm of the directory (cleanups run in reverse).
  cleanups.push(() => {
    if (spawnSync('umount', [dir], { timeout: WAIT_MS }).status !== 0) spawnSync('umount', ['-l', dir], { timeout: WAIT_MS });
  });
  fs.writeFileSync(path.join(dir, 'filler'), Buffer.alloc((sizeKiB - freeKiB) * 1024));
  const free = fs.statfsSync(dir);
  assert.equal(free.bavail * free.bsize, freeKiB * 1024, 'unexpected free space on the tmpfs');
  return dir;
}

/** Lines of a recording, each parsed; fails naming a line that does not parse. */
function parsedLines(file: string): Array<{ type: string; snapshot?: { syscalls: Array<{ calls: number }> } }> {
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'), `${file} ends in the middle of a line`);
  return text
    .trimEnd()
    .split('\n')
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch (err) {
        throw new Error(`${file}: line ${i + 1} does not parse: ${String(err)}`);
      }
    });
}

function lineCount(file: string): number {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

const callsOf = (line: { snapshot?: { syscalls: Array<{ calls: number }> } }): number => (line.snapshot?.syscalls ?? []).reduce((n, s) => n + s.calls, 0);

/** The echo server under a bounded client loop, checked reply by reply. */
async function busyEchoServer(): Promise<{ pid: number; port: number; echoes: () => number; stop: () => Promise<void> }> {
  const { proc, port } = await startEchoServer();
  let on = true;
  let n = 0;
  let failure: unknown;
  const end = Date.now() + 60_000;
  const loop = (async () => {
    while (on && Date.now() < end) {
      const reply = await echo(port, `hello ${n}\n`);
      if (reply !== `hello ${n}\n`) throw new Error(`echo ${n} answered ${JSON.stringify(reply)}`);
      n++;
      await sleep(2);
    }
  })().catch((err) => {
    failure = err;
  });
  const stop = async (): Promise<void> => {
    on = false;
    await loop;
    assert.equal(failure, undefined, 'the echo server failed a client while traced');
  };
  cleanups.push(() => void (on = false));
  return { pid: proc.pid, port, echoes: () => n, stop };
}

/** The target after the session: it answers, runs, and is traced by nobody. */
async function assertServerUntouched(server: { pid: number; port: number }): Promise<void> {
  assert.equal(await echo(server.port, 'still there\n'), 'still there\n');
  assertRunningUntraced(server.pid);
}

/** Ends an attach session like Ctrl-C and returns its exit. */
async function interrupt(tracer: Proc): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  tracer.child.kill('SIGINT');
  return tracer.exited(WAIT_MS);
}

function assertNoStack(p: Proc): void {
  assert.ok(!p.stderr().includes('    at '), p.stderr());
}

describe('a recording whose file is taken away during the session', () => {
  it('rm of the file: one warning, the file re-created with every line, recording goes on (--no-ui)', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'r.jsonl');
    const server = await busyEchoServer();
    const tracer = iotrace(['attach', String(server.pid), '--record', file, '--interval', '0.1', '--no-ui']);
    await until('3 lines in the recording', () => lineCount(file) >= 3);
    fs.rmSync(file);
    const m = await tracer.waitFor(/^iotrace: warning: recording (\S+) was removed during the session after (\d+) lines: re-created it with those \d+ lines; recording goes on$/m, WAIT_MS);
    assert.equal(m[1], file);
    const atRemoval = Number(m[2]);
    // Recording goes on in the new file.
    await until('2 more lines in the re-created file', () => lineCount(file) >= atRemoval + 2);
    assert.deepEqual(await interrupt(tracer), { code: 0, signal: null }, tracer.stderr());
    await server.stop();
    assertNoStack(tracer);
    assert.equal(tracer.stderr().match(/was removed/g)?.length, 1, `warned more than once:\n${tracer.stderr()}`);
    assert.match(tracer.stdout(), /^warning: recording .* was removed during the session after \d+ lines: re-created it/m, 'the summary repeats the warning');
    assert.doesNotMatch(tracer.stdout(), /lines lost/);

    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const lines = parsedLines(file);
    assert.equal(lines[0].type, 'header');
    assert.equal(lines[lines.length - 1].type, 'summary');
    assert.ok(lines.length >= atRemoval + 3, `${lines.length} lines, ${atRemoval} at the removal`);
    const report = await iotraceDone(['report', file, '--json']);
    assert.equal(report.code, 0, report.stderr);
    // Only the warning the summary line keeps: no line is missing, none truncated.
    assert.match(report.stderr, /^iotrace: warning: recording \S+ was removed during the session after \d+ lines: re-created it with those \d+ lines; recording goes on\n$/);
    assert.equal(JSON.parse(report.stdout).totals.calls, callsOf(lines[lines.length - 2]));
    await assertServerUntouched(server);
  });

  it('rm -r of its directory: one warning, tracing goes on, the summary says all lines are lost (--json)', async () => {
    const dir = path.join(tmpDir(), 'sub');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'r.jsonl');
    const server = await busyEchoServer();
    const tracer = iotrace(['attach', String(server.pid), '--record', file, '--interval', '0.1', '--json']);
    await until('3 lines in the recording', () => lineCount(file) >= 3);
    const seen = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const callsBefore = callsOf(JSON.parse(seen[seen.length - 1]));
    fs.rmSync(dir, { recursive: true });
    const m = await tracer.waitFor(/^iotrace: warning: recording (\S+) was removed during the session after (\d+) lines \(its directory (\S+) is gone\): recording stopped, tracing goes on; the \d+ lines written are lost$/m, WAIT_MS);
    assert.equal(m[1], file);
    assert.equal(m[3], dir);
    const echoes = server.echoes();
    await until('20 more echoes, traced', () => server.echoes() >= echoes + 20);
    assert.deepEqual(await interrupt(tracer), { code: 0, signal: null }, tracer.stderr());
    await server.stop();
    assertNoStack(tracer);
    assert.equal(tracer.stderr().match(/was removed/g)?.length, 1, `warned more than once:\n${tracer.stderr()}`);
    const summary = JSON.parse(tracer.stdout());
    const lost = (summary.warnings as string[]).find((w) => /lines lost/.test(w));
    assert.match(lost ?? '', new RegExp(`^recording ${file}: all \\d+ lines lost \\(removed during the session; its directory ${dir} is gone\\)$`), JSON.stringify(summary.warnings));
    const all = Number(/all (\d+) lines/.exec(lost ?? '')?.[1]);
    assert.ok(all > Number(m[2]), `all ${all} lines lost, ${m[2]} at the removal`);
    // Tracing went on after the recording stopped.
    assert.ok(summary.totals.calls > callsBefore, `summary ${summary.totals.calls} calls, ${callsBefore} before the removal`);
    assert.equal(fs.existsSync(dir), false, 'something re-created the directory');
    await assertServerUntouched(server);
  });

  it('umount -l of its tmpfs: re-created in the directory under it, nothing lost', async () => {
    const dir = smallDisk(32);
    const file = path.join(dir, 'r.jsonl');
    const server = await busyEchoServer();
    const tracer = iotrace(['attach', String(server.pid), '--record', file, '--interval', '0.1', '--json']);
    await until('3 lines in the recording', () => lineCount(file) >= 3);
    const umount = spawnSync('umount', ['-l', dir], { encoding: 'utf8', timeout: WAIT_MS });
    assert.equal(umount.status, 0, umount.stderr);
    assert.equal(fs.existsSync(path.join(dir, 'filler')), false, 'the tmpfs is still mounted');
    await tracer.waitFor(/^iotrace: warning: recording \S+ was removed during the session after \d+ lines: re-created it with those \d+ lines; recording goes on$/m, WAIT_MS);
    assert.deepEqual(await interrupt(tracer), { code: 0, signal: null }, tracer.stderr());
    await server.stop();
    assertNoStack(tracer);
    const summary = JSON.parse(tracer.stdout());
    assert.ok(!(summary.warnings as string[]).some((w) => /lines lost/.test(w)), JSON.stringify(summary.warnings));
    const lines = parsedLines(file);
    assert.equal(lines[lines.length - 1].type, 'summary');
    const report = await iotraceDone(['report', file, '--json']);
    assert.equal(report.code, 0, report.stderr);
    assert.equal(JSON.parse(report.stdout).totals.calls, summary.totals.calls);
    await assertServerUntouched(server);
  });
});

describe('a full disk while recording', () => {
  it('--events: the file is cut back to whole lines; report and export read it; the summary counts the lost lines', async () => {
    // The first events line holds all since the attach: a few hundred events with traffic.
    const dir = smallDisk(128, 256);
    const file = path.join(dir, 'r.jsonl');
    const server = await busyEchoServer();
    const tracer = iotrace(['attach', String(server.pid), '--record', file, '--events', '--interval', '0.1', '--json']);
    const m = await tracer.waitFor(/^iotrace: warning: recording to \S+ stopped: ENOSPC.*the file holds the first (\d+) lines$/m, WAIT_MS);
    const held = Number(m[1]);
    assert.deepEqual(await interrupt(tracer), { code: 0, signal: null }, tracer.stderr());
    await server.stop();
    assertNoStack(tracer);
    const summary = JSON.parse(tracer.stdout());
    const lost = (summary.warnings as string[]).find((w) => /lines lost/.test(w));
    assert.match(lost ?? '', /^recording \S+: \d+ lines lost \(ENOSPC.*\); it holds (\d+) complete lines$/, JSON.stringify(summary.warnings));
    assert.equal(Number(/holds (\d+) complete/.exec(lost ?? '')?.[1]), held);

    const lines = parsedLines(file);
    assert.equal(lines.length, held);
    const shape = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => `${JSON.parse(l).type}:${l.length}`).join(' ');
    assert.ok(lines.some((l) => l.type === 'events'), `not even one events line fitted: ${shape}`);
    const report = await iotraceDone(['report', file, '--json']);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stderr, /no summary line/);
    const exported = await iotraceDone(['export', file, '--format', 'perfetto']);
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok(JSON.parse(exported.stdout).traceEvents.length > 0, 'an empty timeline');
    await assertServerUntouched(server);
  });

  it('the dashboard shows it, keeps updating, and its summary counts the lost lines', async () => {
    const dir = smallDisk(8);
    const file = path.join(dir, 'r.jsonl');
    const server = await busyEchoServer();
    const sock = terminal(`attach ${server.pid} --record ${file} --interval 0.1`, 200, 40);
    const s = await waitScreen(sock, /REC \S+ \(STOPPED: ENOSPC/, WAIT_MS);
    assert.match(s, /warning: recording to \S+ stopped: ENOSPC/);
    // The live view goes on: the elapsed time in the header moves.
    const elapsed = (text: string): string => /· (\d+:\d\d) ·/.exec(text)?.[1] ?? '';
    const first = elapsed(s);
    assert.notEqual(first, '', s);
    await until('the header clock to move', () => elapsed(screen(sock)) !== first);
    keys(sock, 'q');
    const end = await waitScreen(sock, /EXIT=\d+/, WAIT_MS, true);
    assert.match(end, /EXIT=0/);
    assert.match(end, /warning: recording \S+: \d+ lines lost \(ENOSPC.*\); it holds \d+ complete lines/);
    await server.stop();
    const report = await iotraceDone(['report', file]);
    assert.equal(report.code, 0, report.stderr);
    await assertServerUntouched(server);
  });
});

describe('the dashboard when the recording is taken away', () => {
  it('rm -r of its directory: the header says the recording stopped and why, the view goes on, the summary says all lines are lost', async () => {
    const dir = path.join(tmpDir(), 'sub');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'r.jsonl');
    const server = await busyEchoServer();
    const sock = terminal(`attach ${server.pid} --record ${file} --interval 0.1`, 220, 40);
    await until('3 lines in the recording', () => lineCount(file) >= 3);
    fs.rmSync(dir, { recursive: true });
    const s = await waitScreen(sock, /REC \S+ \(STOPPED: removed during the session; its directory/, WAIT_MS);
    assert.match(s, /warning: recording \S+ was removed during the session after \d+ lines \(its directory/);
    const calls = (text: string): string => /· ([\d,]+) syscalls\/s ·/.exec(text)?.[1] ?? '';
    const elapsed = (text: string): string => /· (\d+:\d\d) ·/.exec(text)?.[1] ?? '';
    const first = elapsed(s);
    assert.notEqual(calls(s), '', s);
    await until('the header clock to move', () => elapsed(screen(sock)) !== first);
    keys(sock, 'q');
    const end = await waitScreen(sock, /EXIT=\d+/, WAIT_MS, true);
    assert.match(end, /EXIT=0/);
    assert.match(end, /warning: recording \S+: all \d+ lines lost \(removed during the session; its directory \S+ is gone\)/);
    await server.stop();
    assert.equal(fs.existsSync(dir), false);
    await assertServerUntouched(server);
  });
});
