// SPDX-License-Identifier: MIT
// Readers stream: a recording larger than the memory they may use is read to
// the end (report, classify, replay, export, the replay index), and a line of
// 2 GiB without a newline is refused after its first 64 MiB. Peak RSS is
// GNU time's "maximum resident set size" of each process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IOTRACE, iotraceDone, killAll, ROOT, WORKLOADS } from './harness';

/**
 * Under `npm run test:sanitize` (scripts/sanitize-env.js) every iotrace started here has libasan preloaded: its
 * shadow memory and allocator metadata add about 100 MiB to any node process whatever
 * it reads (measured: 225-238 MiB against 126-138 MiB), so the bound grows by that
 * much; holding the file would still be caught.
 */
const UNDER_ASAN = Boolean(process.env.IOTRACE_SANITIZE_PRELOAD);
/** File size vs RSS bound: the file is 2.5 times what any reader may hold (1.7 times under ASan). */
const FILE_BYTES = 512 << 20;
const RSS_BOUND_KIB = (UNDER_ASAN ? 300 : 200) << 10;
const RUN_MS = 120_000;

let dir: string;
let huge: string;
/** Snapshot lines in the huge file. */
let snapshots = 0;

/** Runs node with args under GNU time; stdout is thrown away (export writes hundreds of MB). */
function measured(args: string[]): Promise<{ code: number | null; stderr: string; maxRssKiB: number }> {
  const out = path.join(dir, `time-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-o', out, '-f', '%M', process.execPath, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} still running after ${RUN_MS} ms`));
    }, RUN_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const rss = Number(fs.readFileSync(out, 'utf8').trim().split('\n').pop());
      resolve({ code, stderr, maxRssKiB: rss });
    });
  });
}

const READERS: Array<(file: string) => string[]> = [
  (f) => ['report', f, '--json'],
  (f) => ['classify', f],
  (f) => ['replay', f, '--no-ui'],
  (f) => ['export', f, '--format', 'perfetto'],
];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-huge-'));
  const rec = path.join(dir, 'real.jsonl');
  const res = await iotraceDone(['run', '--record', rec, '--events', '--interval', '0.1', '--json', '--', path.join(WORKLOADS, 'exact-io'), '--now', '--threads', '2', '--iters', '50']);
  assert.equal(res.code, 0, res.stderr);
  const lines = fs.readFileSync(rec, 'utf8').trimEnd().split('\n');
  const snapshot = lines.find((l) => l.startsWith('{"type":"snapshot"'));
  const events = JSON.parse(lines.find((l) => l.startsWith('{"type":"events"')) ?? 'null');
  assert.ok(snapshot && events, 'no snapshot and events line in the real recording');
  // A few events per line: export writes ~150 bytes per event, and the point is the input's size.
  events.events = events.events.slice(0, 10);
  const pair = `${snapshot}\n${JSON.stringify(events)}\n`;
  const block = Buffer.from(pair.repeat(Math.ceil((4 << 20) / pair.length)));
  huge = path.join(dir, 'huge.jsonl');
  const fd = fs.openSync(huge, 'w');
  fs.writeSync(fd, lines[0] + '\n');
  for (let n = 0; n < FILE_BYTES; n += block.length) fs.writeSync(fd, block);
  fs.writeSync(fd, lines[lines.length - 1] + '\n');
  fs.closeSync(fd);
  snapshots = Math.ceil(FILE_BYTES / block.length) * (block.length / Buffer.byteLength(pair));
});
after(() => {
  killAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a recording far larger than the memory its readers may use', () => {
  it(`report, classify, replay --no-ui and export each read ${FILE_BYTES >> 20} MiB with a peak RSS under ${RSS_BOUND_KIB >> 10} MiB`, async (t) => {
    assert.ok(fs.statSync(huge).size >= FILE_BYTES);
    // Two at a time: the machine has two cores.
    const results = [];
    for (let i = 0; i < READERS.length; i += 2) {
      results.push(...(await Promise.all(READERS.slice(i, i + 2).map(async (r) => ({ args: r(huge), res: await measured([IOTRACE, ...r(huge)]) })))));
    }
    for (const { args, res } of results) {
      const ctx = `iotrace ${args.join(' ')}: exit ${res.code}, peak RSS ${res.maxRssKiB} KiB\nstderr: ${res.stderr}`;
      assert.equal(res.code, 0, ctx);
      assert.ok(!/line \d+/.test(res.stderr), ctx);
      assert.ok(res.maxRssKiB > 0 && res.maxRssKiB < RSS_BOUND_KIB, ctx);
      t.diagnostic(`iotrace ${args[0]}: peak RSS ${res.maxRssKiB >> 10} MiB for ${fs.statSync(huge).size >> 20} MiB`);
    }
  });

  it(`the replay index holds 24 bytes per snapshot: ${FILE_BYTES >> 20} MiB indexed under ${RSS_BOUND_KIB >> 10} MiB`, async (t) => {
    const script = `const ix = require(${JSON.stringify(path.join(ROOT, 'dist', 'agent', 'recording-index.js'))});
      ix.indexRecording(${JSON.stringify(huge)}).then((i) => {
        const last = ix.loadSnapshot(i, i.count - 1);
        if (i.count !== ${snapshots} || !Array.isArray(last.syscalls)) throw new Error('indexed ' + i.count + ' snapshots');
      });`;
    const res = await measured(['-e', script]);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(res.maxRssKiB < RSS_BOUND_KIB, `peak RSS ${res.maxRssKiB} KiB`);
    t.diagnostic(`indexRecording: peak RSS ${res.maxRssKiB >> 10} MiB for ${snapshots} snapshots`);
  });
});

describe('a 2 GiB line without a newline', () => {
  it('every reader names line 2 as too long and stops, its RSS bounded', async (t) => {
    const file = path.join(dir, 'long-line.jsonl');
    const header = firstLine(huge);
    assert.ok(header.endsWith('\n'), 'no header line');
    // Sparse: the header, then 2 GiB of NUL bytes that take no disk.
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, header);
    fs.ftruncateSync(fd, 2 ** 31 + 4096);
    fs.closeSync(fd);
    for (const r of READERS) {
      const res = await measured([IOTRACE, ...r(file)]);
      const ctx = `iotrace ${r(file).join(' ')}: exit ${res.code}, peak RSS ${res.maxRssKiB} KiB\nstderr: ${res.stderr}`;
      assert.equal(res.code, 1, ctx);
      assert.equal(res.stderr, `iotrace: ${file}: line 2: longer than 64 MiB, more than iotrace writes in a line (not a recording, or a damaged one)\n`, ctx);
      assert.ok(res.maxRssKiB < RSS_BOUND_KIB, ctx);
      t.diagnostic(`iotrace ${r(file)[0]} of a 2 GiB line: peak RSS ${res.maxRssKiB >> 10} MiB`);
    }
  });
});

/** The first line of a file, with its newline, read without reading the rest. */
function firstLine(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(64 << 10);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8');
    return text.slice(0, text.indexOf('\n') + 1);
  } finally {
    fs.closeSync(fd);
  }
}
