// SPDX-License-Identifier: MIT
// The lab's reference servers: byte-exact under concurrent load, a clean exit
// on SIGTERM, each using its I/O model and nothing else (checked from outside
// by iotrace's counts and by strace -f -c), and `iotrace lab` leaving no
// process behind.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import type { Classification } from '../agent/classify/vocabulary';
import { checkClassification, checkSignature, LAB_MODELS, LOAD_BINARY, serverCommand, type LabModel } from '../agent/lab/models';
import { descendants } from '../agent/target';
import { iotraceDone, killAll, sleep, start, type Proc } from './harness';
import { parseStraceSummary } from './strace';

interface LoadJson {
  requests: number;
  errors: Record<string, number>;
}

async function startServer(m: LabModel): Promise<{ proc: Proc; port: number }> {
  const cmd = serverCommand(m);
  const proc = start(cmd.file, [...cmd.args, '--port', '0'], { env: { ...process.env, ...m.env } });
  const match = await proc.waitFor(/port=(\d+)/);
  return { proc, port: Number(match[1]) };
}

async function load(port: number, extra: string[]): Promise<LoadJson> {
  const p = start(LOAD_BINARY(), ['--target', `127.0.0.1:${port}`, '--connections', '32', '--duration', '1', ...extra]);
  const e = await p.exited(20000);
  assert.equal(e.code, 0, `load ${extra.join(' ')} failed: ${p.stderr()}`);
  return JSON.parse(p.stdout().trim().split('\n').pop() ?? '') as LoadJson;
}

/** Live (non-zombie) processes in a process group. */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // Fields after the ")" of comm: state, ppid, pgrp.
      const f = fs.readFileSync(`/proc/${e}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

afterEach(() => killAll());
after(() => killAll());

describe('every lab server answers byte-exact under concurrent load and exits cleanly on SIGTERM', () => {
  for (const m of LAB_MODELS) {
    const modes = [...(m.httpOnly ? [] : [[]]), ['--http', '/4096'], ['--http', '/file']];
    it(`${m.name}: ${m.httpOnly ? '' : 'echo, '}GET /4096 and GET /file over 32 connections, then SIGTERM → exit 0`, async () => {
      const { proc, port } = await startServer(m);
      for (const mode of modes) {
        const r = await load(port, mode);
        assert.ok(r.requests > 0, `${m.name} ${mode.join(' ')}: no request answered`);
        assert.deepEqual(Object.values(r.errors).reduce((a, b) => a + b, 0), 0, `${m.name} ${mode.join(' ')}: ${JSON.stringify(r.errors)}`);
      }
      proc.child.kill('SIGTERM');
      const exit = await proc.exited(10000);
      assert.deepEqual(exit, { code: 0, signal: null }, `${m.name} did not exit cleanly: ${proc.stderr()}`);
    });
  }
});

/** The classification of each model's traced run, for the classifier's checks below. */
const classified = new Map<string, Classification>();

describe('every lab server uses its I/O model and nothing else', () => {
  for (const m of LAB_MODELS) {
    it(`${m.name}: iotrace lab --json shows its syscall signature, and no process is left behind`, async () => {
      const res = await iotraceDone(['lab', m.name, '--duration', '2', '--json'], 60000);
      assert.equal(res.code, 0, `exit ${res.code}\n${res.stderr}\n${res.stdout.slice(0, 2000)}`);
      const out = JSON.parse(res.stdout) as {
        server: { pid: number; pgid: number };
        signature: { ok: boolean };
        load: LoadJson;
        trace: { syscalls: Array<{ name: string; calls: number }>; endReason: string; classification: Classification };
      };
      classified.set(m.name, out.trace.classification);
      const calls = new Map(out.trace.syscalls.map((s) => [s.name, s.calls]));
      assert.deepEqual(checkSignature(m, calls), { ok: true, missing: [], unexpected: [] });
      assert.equal(out.trace.endReason, 'duration');
      assert.ok(out.load.requests > 0, 'the load got no answer while traced');
      assert.equal(Object.values(out.load.errors).reduce((a, b) => a + b, 0), 0, JSON.stringify(out.load.errors));
      assert.ok(out.server.pgid > 0 && out.server.pid > 0);
      await sleep(100);
      assert.deepEqual(groupMembers(out.server.pgid), [], `${m.name}: processes of its group left behind`);
      assert.equal(fs.existsSync(`/proc/${out.server.pid}/stat`) && !/\) Z /.test(fs.readFileSync(`/proc/${out.server.pid}/stat`, 'utf8')), false, 'the server is still running');
    });

    it(`${m.name}: strace -f -c agrees on the syscall signature`, async () => {
      const { proc, port } = await startServer(m);
      const out = path.join(fs.mkdtempSync('/tmp/iotrace-lab-strace-'), 'strace.txt');
      // Workers forked before the trace (epoll-workers) are named too, as
      // iotrace lab's --children does.
      const pids = [proc.pid, ...descendants(proc.pid)].flatMap((p) => ['-p', String(p)]);
      const strace = start('strace', ['-f', '-c', '-o', out, ...pids]);
      try {
        await strace.waitFor(/attached/);
        await load(port, m.load.http ? ['--http', m.load.http] : []);
      } finally {
        strace.child.kill('SIGINT');
        await strace.exited(10000);
      }
      const counts = parseStraceSummary(fs.readFileSync(out, 'utf8'));
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
      const calls = new Map([...counts].map(([name, c]) => [name, c.calls]));
      assert.deepEqual(checkSignature(m, calls), { ok: true, missing: [], unexpected: [] });
      proc.child.kill('SIGTERM');
      await proc.exited(10000);
    });
  }
});

const short = (c: Classification): string =>
  `${c.wait.map((w) => w.label).join('+') || 'none'}${c.epollTrigger ? `(${c.epollTrigger.label})` : ''} / ${c.data.filter((d) => !d.minor).map((d) => d.label).join('+') || 'none'} / ${c.concurrency.map((x) => x.label).join('+') || 'none'}`;

describe('the classifier names every lab server as it is built', () => {
  after(() => {
    // The confusion matrix of the main wait mechanism (truth's first label
    // against the classifier's largest share), then each model in full.
    const labels = [...new Set(LAB_MODELS.flatMap((m) => [m.truth.wait[0], classified.get(m.name)?.wait[0]?.label ?? 'none']))];
    const rows = labels.map((t) => {
      const cells = labels.map((c) => LAB_MODELS.filter((m) => m.truth.wait[0] === t && (classified.get(m.name)?.wait[0]?.label ?? 'none') === c).length);
      return `${t.padEnd(14)}${cells.map((n) => String(n || '.').padStart(6)).join('')}`;
    });
    const lines = [
      'confusion matrix, main wait mechanism (rows: truth, columns: classified)',
      `${''.padEnd(14)}${labels.map((l) => l.slice(0, 5).padStart(6)).join('')}`,
      ...rows,
      '',
      ...LAB_MODELS.map((m) => {
        const c = classified.get(m.name);
        return `${m.name.padEnd(22)} ${c ? (checkClassification(m, c).ok ? 'ok      ' : 'MISMATCH') : 'not run '} ${c ? short(c) : ''}`;
      }),
    ];
    process.stdout.write(lines.map((l) => `# ${l}`).join('\n') + '\n');
  });
  for (const m of LAB_MODELS) {
    it(`${m.name}: wait, epoll trigger, data path and concurrency equal its ground truth`, async () => {
      let c = classified.get(m.name);
      if (!c) {
        const res = await iotraceDone(['lab', m.name, '--duration', '2', '--json'], 60000);
        assert.equal(res.code, 0, res.stderr);
        c = (JSON.parse(res.stdout) as { trace: { classification: Classification } }).trace.classification;
        classified.set(m.name, c);
      }
      const check = checkClassification(m, c);
      assert.deepEqual(check.mismatches, [], `${m.name}: ${short(c)}\n${JSON.stringify({ wait: c.wait, data: c.data, concurrency: c.concurrency, trigger: c.epollTrigger }, null, 1)}`);
      for (const e of [...c.wait, ...c.data, ...c.concurrency]) assert.ok(e.evidence.length > 0, `${m.name}: ${e.label} has no evidence`);
    });
  }
});

describe('iotrace lab', () => {
  it('lists every model with one line each', async () => {
    const res = await iotraceDone(['lab', '--list']);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split('\n');
    assert.equal(lines.length, LAB_MODELS.length);
    for (const m of LAB_MODELS) assert.ok(lines.some((l) => l.startsWith(`${m.name} `)), `${m.name} missing from --list`);
  });

  it('lab load reports requests/s and latency against a server, every byte checked', async () => {
    const m = LAB_MODELS.find((x) => x.name === 'epoll-lt') as LabModel;
    const { proc, port } = await startServer(m);
    const res = await iotraceDone(['lab', 'load', '--target', `127.0.0.1:${port}`, '--connections', '8', '--duration', '1', '--http', '/4096', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const r = JSON.parse(res.stdout) as LoadJson & { requestsPerSec: number; p99Us: number; bytes: number };
    assert.ok(r.requests > 0 && r.requestsPerSec > 0 && r.p99Us > 0);
    assert.ok(r.bytes >= r.requests * 4096, 'fewer body bytes than requests × 4096');
    proc.child.kill('SIGTERM');
    await proc.exited(10000);
  });

  it('lab load fails (exit 1) and says where when a server answers a wrong byte', async () => {
    // An echo server that flips one byte of every reply.
    const server = net.createServer((s) => s.on('data', (d: Buffer) => s.write(Buffer.from(d.toString().replace(/^./, 'X')))));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const res = await iotraceDone(['lab', 'load', '--target', `127.0.0.1:${port}`, '--connections', '2', '--duration', '1', '--json']);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /differs at byte 0/);
      assert.ok((JSON.parse(res.stdout) as LoadJson).errors.wrong > 0);
    } finally {
      server.close();
    }
  });

  it('lab load refuses a target outside 127.0.0.0/8', async () => {
    const res = await iotraceDone(['lab', 'load', '--target', '10.1.2.3:80']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /^iotrace: --target 10\.1\.2\.3:80: the lab loads only 127\.0\.0\.0\/8/);
  });

  it('refuses an unknown model with a usage error', async () => {
    const res = await iotraceDone(['lab', 'no-such-model']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /^iotrace: no lab model "no-such-model"/);
  });
});
