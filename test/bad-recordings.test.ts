// SPDX-License-Identifier: MIT
// Every reader of recordings (report, report --json, classify, replay --no-ui,
// export) on every way a file can fail to be a recording: one line
// "iotrace: FILE: line N: …" on stderr, exit 1, no stack; a truncated last
// line is a warning and the rest is read. The files are made here from one
// real recording.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { MAX_LINE_BYTES } from '../agent/recording-schema';
import { iotraceDone, WORKLOADS } from './harness';

type Done = Awaited<ReturnType<typeof iotraceDone>>;

const READERS: Array<(file: string) => string[]> = [
  (f) => ['report', f],
  (f) => ['report', f, '--json'],
  (f) => ['classify', f],
  (f) => ['replay', f, '--no-ui'],
  (f) => ['export', f, '--format', 'perfetto'],
];

let dir: string;
/** The real recording's lines: header, then snapshot and events lines in pairs, then the summary. */
let good: string[];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-badrec-'));
  const rec = path.join(dir, 'good.jsonl');
  const res = await iotraceDone(['run', '--record', rec, '--events', '--interval', '0.1', '--json', '--', path.join(WORKLOADS, 'exact-io'), '--now', '--threads', '2', '--iters', '50']);
  assert.equal(res.code, 0, res.stderr);
  const real = fs.readFileSync(rec, 'utf8').trimEnd().split('\n');
  // The cases need two snapshot and events pairs; a run that ended before its
  // first interval has one (the last snapshot): it is repeated, with no new events.
  const pairs = real.slice(1, -1);
  if (pairs.length < 4) pairs.push(pairs[0], JSON.stringify({ ...JSON.parse(pairs[1]), events: [] }));
  good = [real[0], ...pairs, real[real.length - 1]];
  assert.ok(good.length >= 6, `short recording: ${real.length} lines`);
  assert.deepEqual(good.slice(1, 5).map((l) => JSON.parse(l).type), ['snapshot', 'events', 'snapshot', 'events']);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

const lines = (ls: string[]): string => ls.map((l) => l + '\n').join('');
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs every reader on the file; all at once, each is a process of its own. */
function readAll(file: string): Promise<Array<{ args: string[]; res: Done }>> {
  return Promise.all(READERS.map(async (r) => ({ args: r(file), res: await iotraceDone(r(file)) })));
}

function assertOneLineError(args: string[], res: Done, message: RegExp): void {
  const ctx = `iotrace ${args.join(' ')}: exit ${res.code}/${res.signal}\nstderr: ${res.stderr}`;
  assert.ok(!res.stderr.includes('    at '), `a stack trace was printed:\n${ctx}`);
  assert.equal(res.code, 1, ctx);
  const errLines = res.stderr.trimEnd().split('\n');
  assert.equal(errLines.length, 1, `expected one line on stderr:\n${ctx}`);
  assert.match(errLines[0], message, ctx);
}

interface BadCase {
  name: string;
  /** Makes the file (or not) and returns its path. */
  make: () => string;
  /** What follows "iotrace: " for a file; every reader must print exactly this shape. */
  error: (file: string) => RegExp;
}

const CASES: BadCase[] = [
  {
    name: 'a missing file',
    make: () => path.join(dir, 'missing.jsonl'),
    error: (f) => new RegExp(`^iotrace: cannot read recording ${escape(f)}: ENOENT`),
  },
  { name: 'a directory', make: () => fs.mkdtempSync(path.join(dir, 'd-')), error: (f) => new RegExp(`^iotrace: ${escape(f)}: is a directory, not a recording$`) },
  { name: 'an empty file', make: () => write('empty.jsonl', ''), error: (f) => new RegExp(`^iotrace: ${escape(f)}: empty recording \\(no header line\\)$`) },
  { name: 'a file of one newline', make: () => write('newline.jsonl', '\n'), error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 1: empty; a recording starts with its header line$`) },
  { name: 'text that is not JSON', make: () => write('text.jsonl', 'hello world\nmore\n'), error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 1: not valid JSON \\(`) },
  {
    name: 'binary garbage',
    // Bytes 0..255 over and over: the first "\n" (byte 10) ends line 1.
    make: () => write('garbage.bin', Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256))),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 1: not valid JSON \\(`),
  },
  {
    name: 'a complete line 5 that is not valid JSON',
    make: () => write('line5.jsonl', lines([...good.slice(0, 4), good[4].slice(0, good[4].length >> 1), ...good.slice(5)])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 5: not valid JSON \\(`),
  },
  {
    name: 'a newer schema major',
    make: () => write('v2.jsonl', lines([JSON.stringify({ ...JSON.parse(good[0]), schema: 'iotrace.recording/2' }), ...good.slice(1)])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 1: recorded with schema iotrace.recording/2, newer than this iotrace reads \\(major 1\\); upgrade iotrace$`),
  },
  {
    name: 'an unknown schema string',
    make: () => write('schema.jsonl', lines([JSON.stringify({ ...JSON.parse(good[0]), schema: 'strace/1' }), ...good.slice(1)])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 1: unknown schema "strace/1"$`),
  },
  {
    name: 'a header without target',
    make: () => write('notarget.jsonl', lines([JSON.stringify({ ...JSON.parse(good[0]), target: undefined }), ...good.slice(1)])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 1: the header lacks target, startTime, intervalMs or backend$`),
  },
  {
    name: 'a first line that is a snapshot',
    make: () => write('noheader.jsonl', lines(good.slice(1))),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 1: not an iotrace recording \\(the first line must be its header\\)$`),
  },
  {
    name: 'a second header',
    make: () => write('twoheaders.jsonl', lines([...good.slice(0, 2), good[0], ...good.slice(2)])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 3: a second header$`),
  },
  {
    name: 'an unknown line type',
    make: () => write('bogus.jsonl', lines([...good.slice(0, 2), JSON.stringify({ type: 'bogus' }), ...good.slice(2)])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 3: unknown line type "bogus"$`),
  },
  {
    name: 'a snapshot line whose syscalls is not an array',
    make: () => {
      const s = JSON.parse(good[1]);
      s.snapshot.syscalls = 'many';
      return write('shape1.jsonl', lines([good[0], JSON.stringify(s), ...good.slice(2)]));
    },
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 2: snapshot without a syscalls array$`),
  },
  {
    name: 'a snapshot line whose threads hold numbers',
    make: () => {
      const s = JSON.parse(good[3]);
      s.snapshot.threads = [1, 2];
      return write('shape2.jsonl', lines([...good.slice(0, 3), JSON.stringify(s), ...good.slice(4)]));
    },
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 4: snapshot.threads holds something other than objects$`),
  },
  {
    name: 'a JSON array for a line',
    make: () => write('array.jsonl', lines([good[0], '[1,2,3]', ...good.slice(1)])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 2: not a JSON object$`),
  },
  {
    name: 'a header and nothing else',
    make: () => write('onlyheader.jsonl', lines([good[0]])),
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: the recording has a header but no snapshot yet$`),
  },
  {
    name: `a line longer than ${MAX_LINE_BYTES >> 20} MiB`,
    make: () => {
      const file = path.join(dir, 'long.jsonl');
      const fd = fs.openSync(file, 'w');
      fs.writeSync(fd, good[0] + '\n' + good[1] + '\n');
      const block = Buffer.alloc(1 << 20, 'x');
      for (let i = 0; i <= MAX_LINE_BYTES >> 20; i++) fs.writeSync(fd, block);
      fs.writeSync(fd, '\n' + good[good.length - 1] + '\n');
      fs.closeSync(fd);
      return file;
    },
    error: (f) => new RegExp(`^iotrace: ${escape(f)}: line 3: longer than 64 MiB, more than iotrace writes in a line \\(not a recording, or a damaged one\\)$`),
  },
];

describe('readers refuse what is not a readable recording, naming the line', () => {
  for (const c of CASES) {
    it(`${c.name}: exit 1, one line naming it, from all five readers`, async () => {
      const file = c.make();
      for (const { args, res } of await readAll(file)) assertOneLineError(args, res, c.error(file));
    });
  }
});

describe('readers take what iotrace can leave behind', () => {
  it('a last line cut short: a warning naming it, the rest read, exit 0', async () => {
    const last = good[good.length - 1];
    const file = write('truncated.jsonl', lines(good.slice(0, -1)) + last.slice(0, last.length >> 1));
    const n = good.length;
    for (const { args, res } of await readAll(file)) {
      const ctx = `iotrace ${args.join(' ')}: exit ${res.code}\nstderr: ${res.stderr}`;
      assert.equal(res.code, 0, ctx);
      assert.ok(!res.stderr.includes('    at '), ctx);
      assert.match(res.stderr, new RegExp(`^iotrace: warning: ${escape(file)}: line ${n} is truncated \\(iotrace stopped while writing it\\); read up to line ${n - 1}$`, 'm'), ctx);
      assert.ok(res.stdout.length > 0, `no output: ${ctx}`);
    }
  });

  it('CRLF line endings read as LF: the same report, no warning', async () => {
    const lf = write('lf.jsonl', lines(good));
    const crlf = write('crlf.jsonl', good.map((l) => l + '\r\n').join(''));
    const a = await iotraceDone(['report', lf, '--json']);
    const b = await iotraceDone(['report', crlf, '--json']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, a.stdout);
    for (const { args, res } of await readAll(crlf)) {
      assert.equal(res.code, 0, `iotrace ${args.join(' ')}: ${res.stderr}`);
      assert.ok(!/warning/.test(res.stderr), `iotrace ${args.join(' ')}: ${res.stderr}`);
    }
  });
});
