// SPDX-License-Identifier: MIT
// A recording round trip: what `run --record` writes, `report` reads back to the same
// summary, also from a file cut short or left by an iotrace killed with SIGKILL.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { assertRunningUntraced, echo, iotrace, iotraceDone, killAll, sleep, startEchoServer, statusField, WORKLOADS } from './harness';

const WAIT_MS = 10_000;

interface Row {
  calls: number;
  errors: number;
  bytes: number;
  totalNs: number;
}

/** name → calls, errors, bytes, totalNs of a summary's or snapshot's syscalls. */
function rows(syscalls: Array<Row & { name: string }>): Record<string, Row> {
  const out: Record<string, Row> = {};
  for (const { name, calls, errors, bytes, totalNs } of syscalls) out[name] = { calls, errors, bytes, totalNs };
  return out;
}

/** The complete lines of a recording, parsed; a partial last line (no '\n') is left out. */
function completeLines(file: string): Array<Record<string, any>> {
  const text = fs.readFileSync(file, 'utf8');
  const whole = text.slice(0, text.lastIndexOf('\n') + 1);
  return whole
    .split('\n')
    .slice(0, -1)
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch (err) {
        throw new Error(`${file}: line ${i + 1} does not parse: ${String(err)}`);
      }
    });
}

async function until(what: string, ok: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-recording-'));
});
afterEach(() => killAll());
after(() => {
  killAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('run --record of exact-io', () => {
  const T = 2;
  const N = 100;
  let file: string;
  let live: any;
  let announced: Record<string, number>;

  before(async () => {
    file = path.join(dir, 'exact-io.jsonl');
    // An older file with loose permissions: iotrace must truncate it and make it 0600.
    fs.writeFileSync(file, 'old content\n'.repeat(1000), { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const res = await iotraceDone(['run', '--record', file, '--json', '--', path.join(WORKLOADS, 'exact-io'), '--now', '--threads', `${T}`, '--iters', `${N}`]);
    assert.equal(res.code, 0, res.stderr);
    live = JSON.parse(res.stdout);
    // With --json the command's stdout (its announced counts) goes to stderr.
    const m = /^\{"pid":.*\}$/m.exec(res.stderr);
    assert.ok(m, `exact-io's announcement is missing from stderr:\n${res.stderr}`);
    announced = JSON.parse(m[0]);
  });

  it('writes a file of mode 0600 even over an existing 0644 file', () => {
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.ok(!fs.readFileSync(file, 'utf8').includes('old content'), 'the old content was not truncated');
  });

  it('writes a header line, then snapshot lines, then one summary line', () => {
    const lines = completeLines(file);
    assert.ok(fs.readFileSync(file, 'utf8').endsWith('\n'));
    assert.ok(lines.length >= 3, `${lines.length} lines`);
    const [header, ...rest] = lines;
    assert.equal(header.type, 'header');
    assert.equal(header.schema, 'iotrace.recording/1');
    assert.equal(header.mode, 'run');
    assert.equal(header.target.pid, announced.pid);
    assert.match(header.target.exe, /exact-io$/);
    assert.ok(!Number.isNaN(Date.parse(header.startTime)), header.startTime);
    assert.deepEqual(rest.slice(0, -1).map((l) => l.type), Array(rest.length - 1).fill('snapshot'));
    assert.equal(rest[rest.length - 1].type, 'summary');
    assert.deepEqual(rest[rest.length - 1].summary, live, 'the summary line differs from the live summary');
  });

  it('counts what exact-io announced', () => {
    const got = rows(live.syscalls);
    for (const name of ['read', 'write', 'pread64', 'sendfile', 'select', 'poll', 'epoll_wait', 'accept4']) {
      assert.equal(got[name]?.calls, announced[name], name);
    }
    assert.equal(got.pread64.calls, N + 2 * T * N);
  });

  it('report --json gives the live summary: same syscalls (calls, errors, bytes, time) and totals', async () => {
    const res = await iotraceDone(['report', file, '--json']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stderr, '');
    const report = JSON.parse(res.stdout);
    assert.deepEqual(rows(report.syscalls), rows(live.syscalls));
    assert.deepEqual(report.totals, live.totals);
    assert.deepEqual(report, live);
  });

  it('the text report shows the syscall table with the pread64 count', async () => {
    const res = await iotraceDone(['report', file]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^syscall\s+class\s+calls\s/m);
    const calls = live.syscalls.find((s: { name: string }) => s.name === 'pread64').calls;
    assert.match(res.stdout, new RegExp(`^pread64\\s+data\\.read\\s+${calls.toLocaleString('en-US')}\\s`, 'm'));
  });

  it('report of a copy cut in the middle of its last line warns "truncated" and rebuilds the summary from the last snapshot', async () => {
    const text = fs.readFileSync(file, 'utf8');
    const lastStart = text.lastIndexOf('\n', text.length - 2) + 1;
    const cut = path.join(dir, 'cut.jsonl');
    fs.writeFileSync(cut, text.slice(0, lastStart + ((text.length - lastStart) >> 1)));
    const lines = completeLines(cut);
    const lastNo = lines.length + 1;
    const snapshot = lines[lines.length - 1];
    assert.equal(snapshot.type, 'snapshot');

    const res = await iotraceDone(['report', cut, '--json']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, new RegExp(`^iotrace: warning: .*line ${lastNo} is truncated`, 'm'));
    assert.match(res.stderr, /no summary line/);
    const report = JSON.parse(res.stdout);
    assert.deepEqual(rows(report.syscalls), rows(snapshot.snapshot.syscalls));
    assert.equal(report.durationNs, snapshot.snapshot.tNs);
    assert.ok(report.warnings.some((w: string) => /truncated/.test(w)), JSON.stringify(report.warnings));
  });
});

describe('SIGKILL of iotrace while it records', () => {
  it('leaves a file readable up to its last complete line and the target serving, untraced', async () => {
    const { proc: server, port } = await startEchoServer();
    const file = path.join(dir, 'killed.jsonl');
    let trafficOn = true;
    let trafficError: unknown;
    let echoes = 0;
    const trafficEnd = Date.now() + 15_000;
    const traffic = (async () => {
      while (trafficOn && Date.now() < trafficEnd) {
        const reply = await echo(port, `ping ${echoes}\n`);
        if (reply !== `ping ${echoes}\n`) throw new Error(`echo ${echoes} answered ${JSON.stringify(reply)}`);
        echoes++;
        await sleep(2);
      }
    })().catch((err) => {
      trafficError = err;
    });
    try {
      const tracer = iotrace(['attach', String(server.pid), '--interval', '0.2', '--record', file]);
      await tracer.waitFor(/attached to pid/);
      await sleep(1000);
      // At least one snapshot made it to the file, so the report has something to show.
      await until('a snapshot line in the recording', () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').length > 2);
      tracer.child.kill('SIGKILL');
      assert.deepEqual(await tracer.exited(WAIT_MS), { code: null, signal: 'SIGKILL' });
      // The kernel detaches the tracees of a dead tracer (ptrace(2)); allow it a moment.
      await until(`pid ${server.pid} to lose its tracer`, () => statusField(server.pid, 'TracerPid') === '0');
    } finally {
      trafficOn = false;
      await traffic;
    }
    assert.equal(trafficError, undefined, `the echo server failed a client: ${String(trafficError)}`);
    assert.ok(echoes > 0, 'no echo traffic went through');

    const lines = completeLines(file);
    assert.equal(lines[0].type, 'header');
    assert.equal(lines[0].target.pid, server.pid);
    assert.ok(lines.slice(1).every((l) => l.type === 'snapshot'), 'a line other than a snapshot after the header');
    assert.ok(lines.length >= 2);

    const res = await iotraceDone(['report', file, '--json']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /^iotrace: warning: .*no summary line/m);
    const report = JSON.parse(res.stdout);
    assert.deepEqual(rows(report.syscalls), rows(lines[lines.length - 1].snapshot.syscalls));
    assert.ok(report.totals.calls > 0);

    assertRunningUntraced(server.pid);
    assert.equal(await echo(port, 'after the kill\n'), 'after the kill\n');
    assertRunningUntraced(server.pid);
  });
});
