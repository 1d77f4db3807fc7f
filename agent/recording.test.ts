// SPDX-License-Identifier: MIT
// Unit tests of readRecording on hand-written files: lines visited in order, a
// truncated last line is a warning, a corrupt middle line or a newer schema an error;
// and of the Recorder's answers to what can happen to its file.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { IotraceError } from './errors';
import { Recorder } from './recorder';
import { readRecording, type RecordingVisitor } from './recording';
import { formatEventsLine } from './events';
import { EVENT_COLUMNS, MAX_LINE_BYTES, RECORDING_SCHEMA, type EventsLine } from './recording-schema';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-readrec-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function writeRecording(text: string): string {
  const file = path.join(dir, `r${++fileNo}.jsonl`);
  fs.writeFileSync(file, text);
  return file;
}

const header = {
  type: 'header',
  schema: RECORDING_SCHEMA,
  iotraceVersion: '0.1.0',
  backend: 'ptrace',
  mode: 'attach',
  seccomp: false,
  target: { pid: 4242, comm: 'srv', cmdline: 'srv --port 1', exe: '/usr/bin/srv' },
  host: { hostname: 'h', kernel: '6.1.0', arch: 'x64', cpus: 4 },
  startTime: '2026-01-01T00:00:00.000Z',
  intervalMs: 1000,
};

function snapshotLine(tNs: number, calls: number): string {
  return JSON.stringify({
    type: 'snapshot',
    snapshot: {
      tNs,
      tracees: 1,
      syscalls: [{ nr: 0, name: 'read', cls: 'data.read', calls, errors: 0, eagain: 0, errnos: {}, totalNs: calls * 1000, maxNs: 1000, bytes: calls, ready: 0, watched: 0, latLog2: [] }],
      fds: [],
      threads: [],
      processes: [],
      counters: {},
    },
  });
}

const summaryLine = JSON.stringify({ type: 'summary', summary: { schema: 'iotrace.summary/1', syscalls: [], warnings: [] } });

/** Reads file and records every visit as "kind:detail". */
async function visits(file: string): Promise<{ seen: string[]; result: Awaited<ReturnType<typeof readRecording>> }> {
  const seen: string[] = [];
  const visitor: RecordingVisitor = {
    header: (h) => seen.push(`header:${h.target.pid}`),
    snapshot: (s, lineNo) => seen.push(`snapshot:${lineNo}:${s.snapshot.tNs}`),
    summary: (s) => seen.push(`summary:${s.summary.syscalls.length}`),
  };
  const result = await readRecording(file, visitor);
  return { seen, result };
}

/** Rejects with an IotraceError of code EBADREC whose message matches. */
async function assertBadRecording(file: string, message: RegExp): Promise<void> {
  await assert.rejects(readRecording(file, {}), (err: unknown) => {
    assert.ok(err instanceof IotraceError, `not an IotraceError: ${String(err)}`);
    assert.equal(err.code, 'EBADREC');
    assert.equal(err.exitStatus, 1);
    assert.match(err.message, message);
    assert.ok(err.message.startsWith(file), `the message does not name the file: ${err.message}`);
    return true;
  });
}

describe('readRecording', () => {
  it('visits the header, each snapshot with its line number, then the summary, in file order', async () => {
    const file = writeRecording([JSON.stringify(header), snapshotLine(1e9, 5), snapshotLine(2e9, 9), summaryLine].join('\n') + '\n');
    const { seen, result } = await visits(file);
    assert.deepEqual(seen, ['header:4242', 'snapshot:2:1000000000', 'snapshot:3:2000000000', 'summary:0']);
    assert.equal(result.lines, 4);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.header, header);
  });

  it('hands events lines to a visitor that asks for them, and skips them for one that does not', async () => {
    const events = formatEventsLine(1e9, 3, [new Float64Array([-5, 10, 4242, 4242, 0, 3, -11, 20, 7, 4242, 4243, 1, 4, 512])]);
    const file = writeRecording([JSON.stringify({ ...header, events: true }), snapshotLine(1e9, 5), events, summaryLine].join('\n') + '\n');
    const { seen } = await visits(file);
    assert.deepEqual(seen, ['header:4242', 'snapshot:2:1000000000', 'summary:0']);
    const got: Array<{ line: EventsLine; no: number }> = [];
    await readRecording(file, { events: (line, no) => got.push({ line, no }) });
    assert.equal(got.length, 1);
    assert.equal(got[0].no, 3);
    // The text built from the typed array is the JSON of the schema's EventsLine.
    const expected: EventsLine = {
      type: 'events',
      tNs: 1e9,
      dropped: 3,
      columns: [...EVENT_COLUMNS],
      events: [[-5, 10, 4242, 4242, 0, 3, -11], [20, 7, 4242, 4243, 1, 4, 512]],
    };
    assert.deepEqual(got[0].line, expected);
    assert.equal(events, JSON.stringify(expected));
  });

  it('names an events line without its fields', async () => {
    const file = writeRecording([JSON.stringify(header), snapshotLine(1e9, 5), JSON.stringify({ type: 'events', tNs: 1 })].join('\n') + '\n');
    await assertBadRecording(file, /line 3: events line without tNs, dropped, columns and events/);
  });

  it('reads a file whose last line lacks its newline, and CRLF line ends, without a warning', async () => {
    const file = writeRecording([JSON.stringify(header), snapshotLine(1e9, 5), summaryLine].join('\r\n'));
    const { seen, result } = await visits(file);
    assert.deepEqual(seen, ['header:4242', 'snapshot:2:1000000000', 'summary:0']);
    assert.deepEqual(result.warnings, []);
  });

  it('turns a truncated last line into a warning naming it, after visiting the lines before it', async () => {
    const snap = snapshotLine(3e9, 12);
    const file = writeRecording([JSON.stringify(header), snapshotLine(1e9, 5), snapshotLine(2e9, 9), snap.slice(0, 40)].join('\n'));
    const { seen, result } = await visits(file);
    assert.deepEqual(seen, ['header:4242', 'snapshot:2:1000000000', 'snapshot:3:2000000000']);
    assert.equal(result.lines, 4);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0], /line 4 is truncated/);
    assert.match(result.warnings[0], /read up to line 3/);
  });

  it('refuses a corrupt middle line with EBADREC and its line number', async () => {
    const file = writeRecording([JSON.stringify(header), snapshotLine(1e9, 5), '{"type":"snapshot",', snapshotLine(3e9, 9), summaryLine].join('\n') + '\n');
    await assertBadRecording(file, /: line 3: not valid JSON/);
  });

  it('refuses a middle line that is valid JSON but not an object', async () => {
    const file = writeRecording([JSON.stringify(header), 'null', summaryLine].join('\n') + '\n');
    await assertBadRecording(file, /: line 2: not a JSON object/);
  });

  it('refuses a snapshot line without a snapshot, and a second header', async () => {
    await assertBadRecording(writeRecording([JSON.stringify(header), '{"type":"snapshot"}', summaryLine].join('\n')), /line 2: snapshot line without a snapshot/);
    await assertBadRecording(writeRecording([JSON.stringify(header), snapshotLine(1, 1), JSON.stringify(header), summaryLine].join('\n')), /line 3: a second header/);
  });

  it('refuses a newer schema major and says to upgrade', async () => {
    const file = writeRecording([JSON.stringify({ ...header, schema: 'iotrace.recording/2' }), snapshotLine(1e9, 5)].join('\n') + '\n');
    await assertBadRecording(file, /line 1: recorded with schema iotrace\.recording\/2, newer than .*upgrade iotrace/);
  });

  it('refuses a first line that is not a header, even when it is the only, cut line', async () => {
    await assertBadRecording(writeRecording(snapshotLine(1e9, 5) + '\n'), /line 1: not an iotrace recording/);
    await assertBadRecording(writeRecording(JSON.stringify(header).slice(0, 30)), /line 1: not valid JSON/);
    await assertBadRecording(writeRecording(JSON.stringify({ ...header, schema: 'other/1' }) + '\n'), /line 1: unknown schema "other\/1"/);
  });

  it('refuses an empty file, a directory and a missing file', async () => {
    await assertBadRecording(writeRecording(''), /empty recording/);
    await assert.rejects(readRecording(dir, {}), (err: unknown) => err instanceof IotraceError && err.code === 'EBADREC' && /is a directory/.test(err.message));
    const missing = path.join(dir, 'missing.jsonl');
    await assert.rejects(readRecording(missing, {}), (err: unknown) => err instanceof IotraceError && err.code === 'EBADREC' && err.message.includes(missing) && /ENOENT/.test(err.message));
  });
});

describe('Recorder', () => {
  it('skips a line longer than readers take, warns once, and the file stays readable', async () => {
    const file = path.join(dir, 'long.jsonl');
    const rec = new Recorder(file);
    assert.equal(rec.writeJson(JSON.stringify(header)), undefined);
    const long = JSON.stringify({ type: 'events', tNs: 1, dropped: 0, columns: [], events: [], pad: 'x'.repeat(MAX_LINE_BYTES) });
    assert.match(rec.writeJson(long) ?? '', /a 64 MiB line was not written \(readers take lines up to 64 MiB\); the recording goes on without it$/);
    assert.equal(rec.writeJson(long), undefined, 'warned twice');
    assert.equal(rec.writeJson(snapshotLine(2, 1)), undefined);
    rec.close();
    assert.equal(rec.lossWarning(0), `recording ${file}: 2 lines longer than 64 MiB not written`);
    const seen: number[] = [];
    await readRecording(file, { snapshot: (s) => seen.push(s.snapshot.tNs) });
    assert.deepEqual(seen, [2]);
  });

  it('leaves alone another file put at its path, stops, and counts every line lost', () => {
    const file = path.join(dir, 'replaced.jsonl');
    const rec = new Recorder(file);
    rec.writeJson(JSON.stringify(header));
    rec.writeJson(snapshotLine(1, 1));
    fs.rmSync(file);
    fs.writeFileSync(file, 'not ours\n');
    assert.match(rec.writeJson(snapshotLine(2, 1)) ?? '', /was replaced by another file during the session after 3 lines: recording stopped, tracing goes on; the 3 lines written are lost/);
    assert.equal(rec.writeJson(snapshotLine(3, 1)), undefined);
    assert.equal(fs.readFileSync(file, 'utf8'), 'not ours\n');
    assert.equal(rec.lossWarning(1), `recording ${file}: all 5 lines lost (replaced by another file during the session)`);
    assert.match(rec.label(), /\(STOPPED: replaced by another file during the session\)$/);
  });
});
