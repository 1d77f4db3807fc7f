// SPDX-License-Identifier: MIT
// The JSON Schemas in schemas/ against the code they describe: every schema
// compiles in ajv's strict mode; its enums are the TypeScript constants; each
// object's properties and required ones are the fields of its TypeScript
// interface (a field added to one and not the other fails the build or this
// test); the checked-in recording fits; wrong lines fail with useful reasons.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { TargetExit } from '../agent/backend';
import type { ClassifyResult } from '../agent/commands/classify';
import type { InspectResult } from '../agent/commands/inspect';
import type {
  Advice, BusyPollStats, Classification, ConcurrencyEntry, Costs, DataEntry, MultiplexerStats, TriggerEntry, UringStats, WaitEntry,
} from '../agent/classify/vocabulary';
import { CONCURRENCY_LABELS, DATA_LABELS, WAIT_LABELS } from '../agent/classify/vocabulary';
import { SYSCALL_CLASSES } from '../agent/gen/syscalls';
import type {
  EpollInstance, EpollRegistration, InspectedFd, InspectedProcess, InspectedThread, Inspection, MappedFile, UringInstance,
} from '../agent/inspection';
import type { ClassificationCheck, GroundTruth, SignatureCheck } from '../agent/lab/models';
import type { LoadResult } from '../agent/lab/run-lab';
import { RECORDING_MAJOR, RECORDING_SCHEMA, type SessionHeader, type SnapshotLine, type SummaryLine } from '../agent/recording-schema';
import { WAIT_KINDS, type Counters, type FdStat, type FdType, type FoldedThreads, type IoStats, type ProcessStat, type Snapshot, type SyscallStat, type ThreadStat, type UringOpStat } from '../agent/snapshot';
import { SUMMARY_SCHEMA, type FoldedThreadsSummary, type GroupSummary, type Summary, type SyscallSummary, type ThreadCounts, type ThreadSummary, type UringOpSummary } from '../agent/summary';
import { URING_OP_NAMES } from '../agent/uring-ops';
import { ROOT } from './harness';
import { loadSchemas, recordingLineErrors, schemaErrors, SCHEMA_IDS, validateRecording } from './schema';

/** For each field of T: whether it is required or optional. The compiler checks a literal of this type names every field, and no other. */
type Presence<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? 'optional' : 'required' };
const fields = <T>(p: Presence<T>): Record<string, 'required' | 'optional'> => p;

/** Fields written to JSON but absent from the TypeScript interface: the events capture's, from another branch (docs/recording.md). */
const NOT_IN_TYPES: Record<string, Record<string, 'optional'>> = {
  headerLine: { events: 'optional' },
  counters: { eventsDropped: 'optional' },
};

const R = 'recording-1.schema.json';
const S = 'summary-1.schema.json';
const C = 'classification-1.schema.json';
const I = 'inspection-1.schema.json';
const L = 'lab-1.schema.json';

/** Each object schema (file, JSON pointer) and the interface it describes. */
const OBJECTS: Array<[string, string, Record<string, 'required' | 'optional'>]> = [
  [R, '/$defs/headerLine', fields<SessionHeader>({
    type: 'required', schema: 'required', iotraceVersion: 'required', backend: 'required', backendReason: 'optional', mode: 'required',
    seccomp: 'required', target: 'required', host: 'required', startTime: 'required', intervalMs: 'required', inspection: 'optional',
    events: 'optional',
  })],
  [R, '/$defs/target', fields<SessionHeader['target']>({ pid: 'required', comm: 'required', cmdline: 'required', exe: 'required' })],
  [R, '/$defs/host', fields<SessionHeader['host']>({ hostname: 'required', kernel: 'required', arch: 'required', cpus: 'required' })],
  [R, '/$defs/snapshotLine', fields<SnapshotLine>({ type: 'required', snapshot: 'required', classification: 'optional' })],
  [R, '/$defs/summaryLine', fields<SummaryLine>({ type: 'required', summary: 'required' })],
  [R, '/$defs/snapshot', fields<Snapshot>({
    tNs: 'required', tracees: 'required', syscalls: 'required', fds: 'required', threads: 'required', processes: 'required',
    counters: 'required', io: 'optional', uringOps: 'optional', threadsFolded: 'optional',
  })],
  [R, '/$defs/foldedThreads', fields<FoldedThreads>({
    threads: 'required', calls: 'required', totalNs: 'required', bytesIn: 'required', bytesOut: 'required', waitNs: 'required',
    waitCalls: 'required', eagain: 'required', eagainSpin: 'required',
  })],
  [R, '/$defs/syscallStat', fields<SyscallStat>({
    nr: 'required', name: 'required', cls: 'required', calls: 'required', errors: 'required', eagain: 'required', errnos: 'required',
    totalNs: 'required', maxNs: 'required', bytes: 'required', ready: 'required', watched: 'required', maxWatched: 'required',
    eagainSpin: 'required', latLog2: 'required',
  })],
  [R, '/$defs/fdStat', fields<FdStat>({
    pid: 'required', fd: 'required', calls: 'required', errors: 'required', bytesIn: 'required', bytesOut: 'required', closes: 'required',
    type: 'required', reads: 'required', desc: 'required',
  })],
  [R, '/$defs/threadStat', fields<ThreadStat>({
    pid: 'required', tid: 'required', calls: 'required', totalNs: 'required', bytesIn: 'required', bytesOut: 'required', alive: 'required',
    waitNs: 'required', waitCalls: 'required', eagain: 'required', eagainSpin: 'required', current: 'required',
  })],
  [R, '/$defs/threadStat/properties/current/oneOf/1', fields<NonNullable<ThreadStat['current']>>({ name: 'required', fd: 'required', forNs: 'required' })],
  [R, '/$defs/processStat', fields<ProcessStat>({
    pid: 'required', parentPid: 'required', execs: 'required', exited: 'required', exitCode: 'required', exitSignal: 'required',
    coreDumped: 'required', cmdline: 'required',
  })],
  [R, '/$defs/counters', fields<Counters>({
    clones: 'required', forks: 'required', execs: 'required', threadExits: 'required', signals: 'required', groupStops: 'required',
    unmatchedExits: 'required', foreignArch: 'required', unknownNr: 'required', fdOverflow: 'required', threadOverflow: 'required',
    processOverflow: 'required', uringOverflow: 'optional', eventsDropped: 'optional',
  })],
  [R, '/$defs/ioStats', fields<IoStats>({
    epollCtlAdd: 'required', epollCtlMod: 'required', epollCtlDel: 'required', epollCtlEt: 'required', epollCtlOneshot: 'required',
    epollCtlExclusive: 'required', epollCtlUnread: 'required', uringSetups: 'required', uringSetupFlags: 'required', uringSqpoll: 'required',
    uringSubmitted: 'required', aioSubmitted: 'required', mmapFile: 'required', mmapFileBytes: 'required', zerocopySends: 'required',
    zerocopyBytes: 'required', nonblockSets: 'required', asyncSets: 'required', setown: 'required', setsig: 'required',
  })],
  [R, '/$defs/uringOpStat', fields<UringOpStat>({
    opcode: 'required', name: 'required', submitted: 'required', completions: 'required', errors: 'required', eagain: 'required',
    bytes: 'required', totalNs: 'required', maxNs: 'required', latLog2: 'required',
  })],
  [S, '', fields<Summary>({
    schema: 'required', iotraceVersion: 'required', backend: 'required', backendReason: 'optional', mode: 'required', target: 'required',
    startTime: 'required', durationNs: 'required', endReason: 'required', exit: 'required', classification: 'required', totals: 'required',
    groups: 'required', syscalls: 'required', uringOps: 'optional', fds: 'required', threads: 'required', processes: 'required',
    counters: 'required', warnings: 'required', threadCounts: 'optional', threadsFolded: 'optional',
  })],
  [S, '/$defs/threadCounts', fields<ThreadCounts>({ seen: 'required', ended: 'required', folded: 'required' })],
  [S, '/$defs/foldedThreadsSummary', fields<FoldedThreadsSummary>({
    threads: 'required', calls: 'required', totalNs: 'required', bytesIn: 'required', bytesOut: 'required',
  })],
  [S, '/properties/exit/oneOf/1', fields<TargetExit>({ code: 'required', signal: 'required', coreDumped: 'required' })],
  [S, '/properties/totals', fields<Summary['totals']>({
    calls: 'required', errors: 'required', totalNs: 'required', bytesCopiedIn: 'required', bytesCopiedOut: 'required', bytesZeroCopy: 'required',
    callsPerSec: 'required',
  })],
  [S, '/$defs/groupSummary', fields<GroupSummary>({ group: 'required', calls: 'required', totalNs: 'required', bytes: 'required' })],
  [S, '/$defs/syscallSummary', fields<SyscallSummary>({
    name: 'required', nr: 'required', cls: 'required', calls: 'required', errors: 'required', eagain: 'required', errnos: 'required',
    totalNs: 'required', avgNs: 'required', p50Ns: 'required', p99Ns: 'required', maxNs: 'required', bytes: 'required',
  })],
  [S, '/$defs/uringOpSummary', fields<UringOpSummary>({
    name: 'required', opcode: 'required', submitted: 'required', completions: 'required', errors: 'required', eagain: 'required',
    bytes: 'required', totalNs: 'required', avgNs: 'required', p50Ns: 'required', p99Ns: 'required', maxNs: 'required',
  })],
  [S, '/$defs/threadSummary', fields<ThreadSummary>({
    pid: 'required', tid: 'required', calls: 'required', totalNs: 'required', bytesIn: 'required', bytesOut: 'required', alive: 'required',
  })],
  [C, '', fields<Classification>({
    windowSec: 'required', sources: 'required', idle: 'required', role: 'required', wait: 'required', epollTrigger: 'required',
    data: 'required', concurrency: 'required', multiplexers: 'required', busyPoll: 'required', ioUring: 'required', costs: 'required',
    advice: 'required', notes: 'required',
  })],
  [C, '/$defs/waitEntry', fields<WaitEntry>({
    label: 'required', confidence: 'required', evidence: 'required', share: 'required', waitNs: 'required', calls: 'required', threads: 'required',
  })],
  [C, '/$defs/triggerEntry', fields<TriggerEntry>({ label: 'required', confidence: 'required', evidence: 'required', edge: 'required', level: 'required' })],
  [C, '/$defs/dataEntry', fields<DataEntry>({
    label: 'required', confidence: 'required', evidence: 'required', share: 'required', bytes: 'required', minor: 'required',
  })],
  [C, '/$defs/concurrencyEntry', fields<ConcurrencyEntry>({ label: 'required', confidence: 'required', evidence: 'required', count: 'required' })],
  [C, '/$defs/multiplexerStats', fields<MultiplexerStats>({
    label: 'required', calls: 'required', wakeupsPerSec: 'required', watchedPerCall: 'required', readyPerCall: 'required',
    maxFd: 'optional', fdSetSize: 'optional',
  })],
  [C, '/$defs/busyPollStats', fields<BusyPollStats>({ ioCalls: 'required', eagain: 'required', spins: 'required', share: 'required' })],
  [C, '/$defs/uringStats', fields<UringStats>({
    rings: 'required', sqpoll: 'required', setupFlags: 'required', enterCalls: 'required', submittedPerEnter: 'required',
    sqThreads: 'required', requests: 'optional', completions: 'optional',
  })],
  [C, '/$defs/costs', fields<Costs>({
    requests: 'required', requestBasis: 'required', accepts: 'required', exchanges: 'required', perRequest: 'required', perKiB: 'required',
    copiesPerByte: 'required', bytesCopied: 'required', bytesNoUserCopy: 'required', bytesSent: 'required',
  })],
  [C, '/$defs/costs/properties/perRequest/oneOf/1', fields<NonNullable<Costs['perRequest']>>({
    syscalls: 'required', modeSwitches: 'required', cpuCopies: 'required', bytesCopied: 'required', uringRequests: 'optional',
  })],
  [C, '/$defs/costs/properties/perKiB/oneOf/1', fields<NonNullable<Costs['perKiB']>>({ syscalls: 'required', modeSwitches: 'required', uringRequests: 'optional' })],
  [C, '/$defs/advice', fields<Advice>({ text: 'required', evidence: 'required' })],
  [I, '', fields<Inspection>({ takenAt: 'required', durationMs: 'required', processes: 'required' })],
  [I, '/$defs/process', fields<InspectedProcess>({
    pid: 'required', parentPid: 'required', comm: 'required', cmdline: 'required', threads: 'required', fds: 'required', fdCount: 'required',
    epoll: 'required', ioUring: 'required', mappedFiles: 'optional',
  })],
  [I, '/$defs/mappedFile', fields<MappedFile>({ path: 'required', bytes: 'required', shared: 'required' })],
  [I, '/$defs/thread', fields<InspectedThread>({ tid: 'required', comm: 'required', state: 'required', syscall: 'required', ioWorker: 'optional' })],
  [I, '/$defs/thread/properties/syscall/oneOf/1', fields<NonNullable<InspectedThread['syscall']>>({ nr: 'required', name: 'required', fd: 'required' })],
  [I, '/$defs/fd', fields<InspectedFd>({ fd: 'required', type: 'required', desc: 'required', flags: 'required', nonblock: 'required', async: 'required' })],
  [I, '/$defs/epollInstance', fields<EpollInstance>({
    fd: 'required', registrations: 'required', count: 'required', edge: 'required', oneshot: 'required', exclusive: 'required',
  })],
  [I, '/$defs/epollRegistration', fields<EpollRegistration>({ tfd: 'required', events: 'required', edge: 'required', oneshot: 'required', exclusive: 'required' })],
  [I, '/$defs/uringInstance', fields<UringInstance>({ fd: 'required', sqThread: 'required', sqEntries: 'required', cqEntries: 'required' })],
  ['inspect-1.schema.json', '', fields<InspectResult>({ inspection: 'required', classification: 'required' })],
  ['classify-1.schema.json', '', fields<ClassifyResult>({ file: 'required', fromSec: 'required', toSec: 'required', classification: 'required' })],
  [L, '/$defs/truth', fields<GroundTruth>({ wait: 'required', epollTrigger: 'optional', data: 'required', concurrency: 'required' })],
  [L, '/$defs/run/properties/signature', fields<SignatureCheck>({ ok: 'required', missing: 'required', unexpected: 'required' })],
  [L, '/$defs/run/properties/classification', fields<ClassificationCheck>({ ok: 'required', mismatches: 'required' })],
  [L, '/$defs/load', fields<LoadResult>({
    requests: 'required', seconds: 'required', requestsPerSec: 'required', p50Us: 'required', p99Us: 'required', maxUs: 'required',
    bytes: 'required', errors: 'required', connections: 'required',
  })],
];

/** Every FdType, checked complete by the compiler (FdType has no runtime list). */
const FD_TYPES = Object.keys({
  tcp: 1, tcp6: 1, udp: 1, udp6: 1, unix: 1, socket: 1, file: 1, dev: 1, pipe: 1, epoll: 1, eventfd: 1, signalfd: 1, timerfd: 1, io_uring: 1, anon: 1, unknown: 1,
} satisfies Record<FdType, 1>);

const schemas = loadSchemas();

/** The value at a JSON pointer of a schema file. */
function at(file: string, pointer: string): Record<string, unknown> {
  let v: unknown = schemas.get(file);
  assert.ok(v, `no ${file}`);
  for (const part of pointer.split('/').slice(1)) {
    v = (v as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    assert.ok(v !== undefined, `${file}#${pointer}: no ${part}`);
  }
  return v as Record<string, unknown>;
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe('the JSON Schemas in schemas/', () => {
  it('each has an $id with its major and compiles in strict mode', () => {
    assert.deepEqual(sorted(schemas.keys()), sorted(Object.keys(SCHEMA_IDS).map((n) => `${n}-1.schema.json`)));
    for (const [name, id] of Object.entries(SCHEMA_IDS)) {
      assert.equal(schemas.get(`${name}-1.schema.json`)?.$id, id);
      assert.equal(schemaErrors(name as keyof typeof SCHEMA_IDS, null) !== undefined, true, `${id} accepts null`);
    }
  });

  it('the recording and summary schemas are the versions the code writes and reads', () => {
    assert.equal(RECORDING_SCHEMA, `iotrace.recording/${RECORDING_MAJOR}`);
    assert.equal(SCHEMA_IDS.recording, `urn:iotrace:recording:${RECORDING_MAJOR}`);
    assert.ok(new RegExp(at(R, '/$defs/headerLine/properties/schema').pattern as string).test(RECORDING_SCHEMA));
    assert.equal(at(S, '/properties/schema').const, SUMMARY_SCHEMA);
  });

  it("enums are the code's constants: syscall classes, fd types, wait kinds, io_uring opcodes, the vocabulary's labels", () => {
    assert.deepEqual(at(R, '/$defs/syscallClass').enum, [...SYSCALL_CLASSES]);
    assert.deepEqual(sorted(at(R, '/$defs/fdType').enum as string[]), sorted(FD_TYPES));
    assert.deepEqual(at(R, '/$defs/byWaitKind').required, [...WAIT_KINDS]);
    assert.deepEqual(Object.keys(at(R, '/$defs/byWaitKind/properties')), [...WAIT_KINDS]);
    assert.deepEqual(at(R, '/$defs/uringOpName/anyOf/0').enum, [...URING_OP_NAMES]);
    assert.deepEqual(at(C, '/$defs/waitLabel').enum, [...WAIT_LABELS]);
    assert.deepEqual(at(C, '/$defs/dataLabel').enum, [...DATA_LABELS]);
    assert.deepEqual(at(C, '/$defs/concurrencyLabel').enum, [...CONCURRENCY_LABELS]);
    // The line types: the enum on type, one if/then branch for each.
    const branches = (at(R, '/allOf') as unknown as Array<{ if: { properties: { type: { const: string } } }; then: { $ref: string } }>)
      .map((b) => [b.if.properties.type.const, b.then.$ref]);
    assert.deepEqual(branches.map(([t]) => t), at(R, '/properties/type').enum);
    for (const [t, ref] of branches) assert.equal(at(R, ref.slice(1)).properties && at(R, `${ref.slice(1)}/properties/type`).const, t);
    assert.deepEqual(at(R, '/$defs/eventsLine/properties/columns').const, ['startNs', 'durNs', 'pid', 'tid', 'nr', 'fd', 'ret']);
  });

  for (const [file, pointer, want] of OBJECTS) {
    const name = `${file}#${pointer || '/'}`;
    it(`${name}: the properties and required ones of its TypeScript interface, no others`, () => {
      const schema = at(file, pointer);
      const extra = NOT_IN_TYPES[pointer.split('/').pop() ?? ''] ?? {};
      const all = { ...want, ...extra };
      assert.equal(schema.additionalProperties, false, `${name} allows other properties`);
      assert.deepEqual(sorted(Object.keys(schema.properties as object)), sorted(Object.keys(all)), `${name}: properties`);
      assert.deepEqual(sorted(schema.required as string[]), sorted(Object.keys(all).filter((k) => all[k] === 'required')), `${name}: required`);
    });
  }
});

describe('validating recordings', () => {
  const fixture = path.join(ROOT, 'test', 'fixtures', 'epoll-small.json');
  const good = fs.readFileSync(fixture, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-schema-'));
  const write = (name: string, lines: unknown[], end = '\n'): string => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + end);
    return file;
  };

  it('the checked-in recording test/fixtures/epoll-small.json fits', () => {
    const lines = validateRecording(fixture);
    assert.deepEqual([...new Set(lines.map((l) => (l as { type: string }).type))], ['header', 'snapshot', 'summary']);
  });

  it('events lines, header.events and counters.eventsDropped fit; an event of the wrong length does not', () => {
    const events = { type: 'events', tNs: 1.5e9, dropped: 3, columns: ['startNs', 'durNs', 'pid', 'tid', 'nr', 'fd', 'ret'], events: [[1000, 250, 42, 43, 0, 5, -11], [2000, 10, 42, 42, 1, 1, 4096]] };
    const snap = structuredClone(good[1]);
    snap.snapshot.counters.eventsDropped = 3;
    validateRecording(write('events.jsonl', [{ ...good[0], events: true }, events, snap, good[good.length - 1]]));
    assert.match(recordingLineErrors({ ...events, events: [[1, 2, 3]] }) ?? '', /\/events\/0 must NOT have fewer than 7 items/);
    assert.match(recordingLineErrors({ ...events, events: [[1, 2, 3, 4, 5, 6, 0.5]] }) ?? '', /\/events\/0\/6 must be integer/);
    assert.match(recordingLineErrors({ ...events, dropped: -1 }) ?? '', /\/dropped must be >= 0/);
    assert.match(recordingLineErrors({ ...events, columns: ['nr'] }) ?? '', /\/columns must be equal to constant/);
  });

  it('a wrong line fails, naming the file, the line and the field', () => {
    const noCalls = structuredClone(good[1]);
    delete noCalls.snapshot.syscalls[0].calls;
    assert.throws(() => validateRecording(write('no-calls.jsonl', [good[0], noCalls])),
      /no-calls\.jsonl: line 2 does not fit urn:iotrace:recording:1: \/snapshot\/syscalls\/0 must have required property 'calls'/);

    const floatCalls = structuredClone(good[1]);
    floatCalls.snapshot.syscalls[0].calls = 1.5;
    assert.match(recordingLineErrors(floatCalls) ?? '', /\/snapshot\/syscalls\/0\/calls must be integer/);

    const badClass = structuredClone(good[1]);
    badClass.snapshot.syscalls[0].cls = 'data.copy';
    assert.match(recordingLineErrors(badClass) ?? '', /\/snapshot\/syscalls\/0\/cls must be equal to one of the allowed values \(\["-","data\.read"/);

    const unknownField = { ...good[0], color: 'red' };
    assert.match(recordingLineErrors(unknownField) ?? '', /^\/ must NOT have additional properties \(color\)$/);

    const badLabel = structuredClone(good[good.length - 1]);
    badLabel.summary.classification.wait[0].label = 'spinning';
    assert.match(recordingLineErrors(badLabel) ?? '', /\/summary\/classification\/wait\/0\/label must be equal to one of the allowed values/);

    assert.equal(recordingLineErrors({ type: 'bogus' }), '/type must be equal to one of the allowed values (["header","snapshot","events","summary"])');
    assert.equal(recordingLineErrors([]), '/ must be object');
    assert.match(recordingLineErrors({ ...good[0], schema: 'iotrace.recording/2' }) ?? '', /\/schema must match pattern/);
  });

  it('the order is checked: a header first and only first, nothing after the summary; a cut last line is skipped', () => {
    assert.throws(() => validateRecording(write('no-header.jsonl', good.slice(1))), /line 1 .*: the first line must be the header/);
    assert.throws(() => validateRecording(write('two-headers.jsonl', [good[0], good[0]])), /line 2 .*: a second header/);
    assert.throws(() => validateRecording(write('after-summary.jsonl', [...good, good[1]])), new RegExp(`line ${good.length + 1} .*: a snapshot line after the summary`));
    const cut = path.join(tmp, 'cut.jsonl');
    fs.writeFileSync(cut, good.slice(0, 3).map((l) => JSON.stringify(l)).join('\n') + '\n' + JSON.stringify(good[3]).slice(0, 100));
    assert.equal(validateRecording(cut).length, 3);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
