// SPDX-License-Identifier: MIT
// --events and `iotrace export --format perfetto`: for exact-io, whose syscalls are known
// in advance, the recording holds one event per counted syscall under either backend, and
// the export is a valid trace-event file with one slice per event; the caps and the
// errors a user meets say what they are.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { SYSCALLS } from '../agent/gen/syscalls';
import { EVENT_COLUMNS, type EventsLine, type SessionHeader } from '../agent/recording-schema';
import type { Summary } from '../agent/summary';
import { iotraceDone, killAll, WORKLOADS } from './harness';

const EXACT_IO = path.join(WORKLOADS, 'exact-io');
const EXACT_ARGS = ['--now', '--threads', '2', '--iters', '50'];
const TIMEOUT_MS = 60_000;
const IS_ROOT = process.geteuid?.() === 0;

/** ptrace stops on every syscall (--all-syscalls) so that every syscall is an event, as under eBPF. */
const BACKENDS = [
  { backend: 'ebpf', flags: ['--backend', 'ebpf'], skip: IS_ROOT ? false : 'the eBPF backend needs root (CAP_BPF and CAP_PERFMON); this run is not root' },
  { backend: 'ptrace', flags: ['--backend', 'ptrace', '--all-syscalls'], skip: false },
] as const;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-events-'));

interface Recorded {
  header: SessionHeader;
  events: number[][];
  eventLines: EventsLine[];
  snapshotTNs: number[];
  summary: Summary;
}

function readRecorded(file: string): Recorded {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  const header = lines[0] as SessionHeader;
  const eventLines: EventsLine[] = [];
  const snapshotTNs: number[] = [];
  let summary: Summary | undefined;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (l.type === 'events') {
      const e = l as EventsLine;
      // Right after the snapshot line of the same tNs.
      assert.equal(lines[i - 1].type, 'snapshot', `events line ${i + 1} does not follow a snapshot line`);
      assert.equal(e.tNs, (lines[i - 1] as unknown as { snapshot: { tNs: number } }).snapshot.tNs);
      assert.deepEqual(e.columns, [...EVENT_COLUMNS]);
      eventLines.push(e);
    } else if (l.type === 'snapshot') {
      snapshotTNs.push((l as unknown as { snapshot: { tNs: number } }).snapshot.tNs);
      assert.equal(lines[i + 1]?.type, 'events', `snapshot line ${i + 1} is not followed by an events line`);
    } else if (l.type === 'summary') {
      summary = (l as unknown as { summary: Summary }).summary;
    }
  }
  assert.ok(summary, `${file} has no summary line`);
  return { header, events: eventLines.flatMap((l) => l.events), eventLines, snapshotTNs, summary };
}

/** Events per syscall name. */
function countByName(events: number[][]): Map<string, number> {
  const n = new Map<string, number>();
  for (const e of events) {
    const name = SYSCALLS[e[4]]?.name ?? `syscall_${e[4]}`;
    n.set(name, (n.get(name) ?? 0) + 1);
  }
  return n;
}

function callsByName(summary: Summary): Map<string, number> {
  return new Map(summary.syscalls.map((s) => [s.name, s.calls]));
}

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  cat?: string;
  args?: Record<string, unknown>;
}

/** The trace-event format's rules that viewers rely on; returns the X slices per name. */
function checkTraceEvents(text: string): Map<string, number> {
  const doc = JSON.parse(text) as { traceEvents: TraceEvent[]; displayTimeUnit?: string };
  assert.ok(Array.isArray(doc.traceEvents), 'traceEvents is an array');
  assert.equal(doc.displayTimeUnit, 'ns');
  const perThread = new Map<number, TraceEvent[]>();
  const named = new Set<number>();
  const slices = new Map<string, number>();
  for (const ev of doc.traceEvents) {
    for (const field of ['name', 'ph', 'pid', 'tid'] as const) assert.ok(ev[field] !== undefined, `${field} missing in ${JSON.stringify(ev)}`);
    assert.equal(typeof ev.name, 'string');
    assert.ok(Number.isInteger(ev.pid) && Number.isInteger(ev.tid), `pid/tid not integers in ${JSON.stringify(ev)}`);
    if (ev.ph === 'M') {
      assert.ok(['process_name', 'thread_name'].includes(ev.name), `metadata ${ev.name}`);
      assert.equal(typeof ev.args?.name, 'string');
      if (ev.name === 'thread_name') named.add(ev.tid);
      continue;
    }
    assert.equal(ev.ph, 'X', `only complete slices, got ${JSON.stringify(ev)}`);
    assert.ok(typeof ev.ts === 'number' && Number.isFinite(ev.ts) && ev.ts >= 0, `ts in ${JSON.stringify(ev)}`);
    assert.ok(typeof ev.dur === 'number' && Number.isFinite(ev.dur) && ev.dur >= 0, `dur in ${JSON.stringify(ev)}`);
    assert.equal(typeof ev.cat, 'string');
    assert.equal(typeof ev.args?.fd, 'number');
    assert.equal(typeof ev.args?.ret, 'number');
    assert.ok(named.has(ev.tid), `slice on thread ${ev.tid} before its thread_name`);
    if (!perThread.has(ev.tid)) perThread.set(ev.tid, []);
    perThread.get(ev.tid)?.push(ev);
    slices.set(ev.name, (slices.get(ev.name) ?? 0) + 1);
  }
  // A thread is in one syscall at a time: in file order its slices start in order and
  // none starts before the one before it ended (compared in whole ns, as recorded).
  for (const [tid, list] of perThread) {
    for (let i = 1; i < list.length; i++) {
      const prevEnd = Math.round(list[i - 1].ts * 1000) + Math.round((list[i - 1].dur ?? 0) * 1000);
      const start = Math.round(list[i].ts * 1000);
      assert.ok(list[i].ts >= list[i - 1].ts, `thread ${tid}: slice ${i} (${list[i].name}) at ${list[i].ts} µs before ${list[i - 1].ts} µs`);
      assert.ok(start >= prevEnd, `thread ${tid}: ${list[i].name} at ${start} ns overlaps ${list[i - 1].name} ending at ${prevEnd} ns`);
    }
  }
  return slices;
}

/** exact-io's first output line: what it is about to do. */
function expectation(text: string): Record<string, number> {
  const m = /^\{"pid":\d+,.*\}$/m.exec(text);
  assert.ok(m, `no exact-io expectation line in:\n${text}`);
  return JSON.parse(m[0]) as Record<string, number>;
}

describe('--events and export --format perfetto', () => {
  afterEach(killAll);
  after(() => {
    killAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const { backend, flags, skip } of BACKENDS) {
    it(`records one event per counted syscall under ${backend}, and exports one slice per event`, { skip }, async () => {
      const rec = path.join(tmp, `exact-${backend}.jsonl`);
      const r = await iotraceDone(['run', '--json', ...flags, '--events', '--record', rec, '--', EXACT_IO, ...EXACT_ARGS], TIMEOUT_MS);
      assert.equal(r.code, 0, `iotrace run failed:\n${r.stderr}`);
      const { header, events, eventLines, summary } = readRecorded(rec);
      assert.equal(header.events, true);
      assert.equal(summary.endReason, 'target-exit');

      // Nothing dropped here, and every counted call is an event.
      assert.equal(eventLines[eventLines.length - 1].dropped, 0);
      assert.equal(summary.counters.eventsDropped, 0);
      assert.deepEqual(Object.fromEntries([...countByName(events)].sort()), Object.fromEntries([...callsByName(summary)].sort()));
      const announced = expectation(r.stderr);
      for (const name of ['read', 'write', 'pread64', 'sendfile', 'select', 'poll', 'epoll_wait', 'accept4']) {
        assert.equal(countByName(events).get(name), announced[name], `${name} events`);
      }
      const tids = new Set(summary.threads.map((t) => t.tid));
      const pids = new Set(summary.processes.map((p) => p.pid));
      for (const e of events) {
        assert.equal(e.length, EVENT_COLUMNS.length);
        assert.ok(e.every(Number.isInteger), `non-integer in ${JSON.stringify(e)}`);
        assert.ok(tids.has(e[3]), `event of unknown thread ${e[3]}`);
        assert.ok(pids.has(e[2]), `event of unknown process ${e[2]}`);
        assert.ok(e[1] >= 0 && e[0] + e[1] <= summary.durationNs + 1e9, `event outside the session: ${JSON.stringify(e)}`);
      }
      // The fd column follows the catalog: exact-io writes its 4096-byte chunks to a real descriptor.
      const writes = events.filter((e) => SYSCALLS[e[4]]?.name === 'write');
      assert.ok(writes.every((e) => e[5] >= 0 && e[6] === 4096), 'write events carry their fd and byte count');

      const out = path.join(tmp, `exact-${backend}.json`);
      const x = await iotraceDone(['export', rec, '--format', 'perfetto', '-o', out], TIMEOUT_MS);
      assert.equal(x.code, 0, `export failed:\n${x.stderr}`);
      assert.doesNotMatch(x.stderr, /warning/);
      const slices = checkTraceEvents(fs.readFileSync(out, 'utf8'));
      assert.deepEqual(Object.fromEntries([...slices].sort()), Object.fromEntries([...callsByName(summary)].sort()));

      // To stdout, the same document.
      const y = await iotraceDone(['export', rec, '--format', 'perfetto'], TIMEOUT_MS);
      assert.equal(y.code, 0, y.stderr);
      assert.equal(y.stdout, fs.readFileSync(out, 'utf8'));
    });

    it(`keeps exactly --events-max events under ${backend} and counts the rest as dropped`, { skip }, async () => {
      const rec = path.join(tmp, `max-${backend}.jsonl`);
      const r = await iotraceDone(['run', '--json', ...flags, '--events', '--events-max', '10', '--record', rec, '--', EXACT_IO, ...EXACT_ARGS], TIMEOUT_MS);
      assert.equal(r.code, 0, `iotrace run failed:\n${r.stderr}`);
      const { events, eventLines, summary } = readRecorded(rec);
      const total = summary.syscalls.reduce((n, s) => n + s.calls, 0);
      assert.equal(events.length, 10);
      assert.equal(eventLines[eventLines.length - 1].dropped, total - 10);
      assert.equal(summary.counters.eventsDropped, total - 10);
      assert.ok(summary.warnings.some((w) => w.includes(`${total - 10} events not recorded`)), JSON.stringify(summary.warnings));
      // dropped never goes down from one line to the next.
      for (let i = 1; i < eventLines.length; i++) assert.ok(eventLines[i].dropped >= eventLines[i - 1].dropped);
      const x = await iotraceDone(['export', rec, '--format', 'perfetto'], TIMEOUT_MS);
      assert.equal(x.code, 0, x.stderr);
      const slices = checkTraceEvents(x.stdout);
      assert.equal([...slices.values()].reduce((a, b) => a + b, 0), 10);
      assert.match(x.stderr, new RegExp(`warning: ${total - 10} events were not recorded`));
    });
  }

  it('refuses --events without --record, and --events-max without --events, before starting anything', async () => {
    for (const args of [
      ['run', '--events', '--', EXACT_IO, ...EXACT_ARGS],
      ['attach', String(process.pid), '--events'],
      ['lab', 'select', '--events'],
      ['run', '--events-max', '5', '-r', path.join(tmp, 'x.jsonl'), '--', EXACT_IO],
    ]) {
      const r = await iotraceDone(args, TIMEOUT_MS);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /^iotrace: --events/m);
      assert.doesNotMatch(r.stderr, /started pid|attached to|\n\s+at /);
    }
    assert.ok(!fs.existsSync(path.join(tmp, 'x.jsonl')));
  });

  it('says a recording made without --events has no timeline, and names a bad events line', async () => {
    const plain = path.join(tmp, 'plain.jsonl');
    const r = await iotraceDone(['run', '--backend', 'ptrace', '--no-ui', '--record', plain, '--', EXACT_IO, ...EXACT_ARGS], TIMEOUT_MS);
    assert.equal(r.code, 0, r.stderr);
    const out = path.join(tmp, 'plain.json');
    const x = await iotraceDone(['export', plain, '--format', 'perfetto', '-o', out], TIMEOUT_MS);
    assert.equal(x.code, 1);
    assert.match(x.stderr, /^iotrace: .*plain\.jsonl: recorded without --events/);
    assert.doesNotMatch(x.stderr, /\n\s+at /);
    assert.ok(!fs.existsSync(out), 'a failed export leaves no file');

    // A header that announces events, then an events row that is not 7 numbers.
    const header = fs.readFileSync(plain, 'utf8').split('\n')[0].replace(/^\{/, '{"events":true,');
    const bad = path.join(tmp, 'bad.jsonl');
    const row = { type: 'events', tNs: 1, dropped: 0, columns: EVENT_COLUMNS, events: [[1, 2, 3]] };
    fs.writeFileSync(bad, `${header}\n${JSON.stringify(row)}\n`);
    const y = await iotraceDone(['export', bad], TIMEOUT_MS);
    assert.equal(y.code, 1);
    assert.match(y.stderr, /^iotrace: .*bad\.jsonl: line 2: event 1 is not 7 numbers$/m);
    assert.doesNotMatch(y.stderr, /\n\s+at /);

    // Readers that do not want events (report) skip them.
    const rep = await iotraceDone(['report', path.join(tmp, 'bad.jsonl')], TIMEOUT_MS);
    assert.match(rep.stderr, /no snapshot/);
  });
});
