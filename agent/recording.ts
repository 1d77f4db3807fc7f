// SPDX-License-Identifier: MIT
// Reads a recording line by line, in bounded memory, with errors that name the
// line; a truncated last line (iotrace killed mid-write) is a warning.
import * as fs from 'node:fs';
import * as readline from 'node:readline';

import { describeSystemError, IotraceError } from './errors';
import { RECORDING_MAJOR, type EventsLine, type RecordingLine, type SessionHeader, type SnapshotLine, type SummaryLine } from './recording-schema';

export interface RecordingVisitor {
  header?(h: SessionHeader): void;
  snapshot?(s: SnapshotLine, lineNo: number): void;
  /** --events recordings only; readers that do not ask for them skip them. */
  events?(e: EventsLine, lineNo: number): void;
  summary?(s: SummaryLine): void;
}

export interface RecordingReadResult {
  header: SessionHeader;
  lines: number;
  warnings: string[];
}

const MAX_LINE_BYTES = 256 * 1024 * 1024;

function fail(file: string, lineNo: number, why: string): never {
  throw new IotraceError('EBADREC', `${file}: line ${lineNo}: ${why}`);
}

function checkHeader(file: string, value: unknown): SessionHeader {
  const h = value as Partial<SessionHeader>;
  if (!h || typeof h !== 'object' || h.type !== 'header' || typeof h.schema !== 'string') {
    fail(file, 1, 'not an iotrace recording (the first line must be its header)');
  }
  const m = /^iotrace\.recording\/(\d+)$/.exec(h.schema);
  if (!m) fail(file, 1, `unknown schema "${h.schema}"`);
  const major = Number(m[1]);
  if (major > RECORDING_MAJOR) {
    fail(file, 1, `recorded with schema ${h.schema}, newer than this iotrace reads (major ${RECORDING_MAJOR}); upgrade iotrace`);
  }
  if (!h.target || typeof h.startTime !== 'string') fail(file, 1, 'the header lacks target or startTime');
  return h as SessionHeader;
}

function endsWithNewline(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const b = Buffer.alloc(1);
      return size > 0 && fs.readSync(fd, b, 0, 1, size - 1) === 1 && b[0] === 0x0a;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Streams a recording to the visitor; throws IotraceError naming the bad line. */
export async function readRecording(file: string, visit: RecordingVisitor): Promise<RecordingReadResult> {
  let stream: fs.ReadStream;
  try {
    const fd = fs.openSync(file, 'r');
    if (fs.fstatSync(fd).isDirectory()) {
      fs.closeSync(fd);
      throw new IotraceError('EBADREC', `${file}: is a directory, not a recording`);
    }
    stream = fs.createReadStream('', { fd, encoding: 'utf8' });
  } catch (err) {
    if (err instanceof IotraceError) throw err;
    throw new IotraceError('EBADREC', `cannot read recording ${file}: ${describeSystemError(err)}`);
  }
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  const warnings: string[] = [];
  let header: SessionHeader | undefined;
  let lineNo = 0;
  // A line is only known to be the last after the next one is read: hold one back.
  let pending: { text: string; no: number } | undefined;

  const handle = (text: string, no: number, isLast: boolean): void => {
    if (text.length > MAX_LINE_BYTES) fail(file, no, 'line too long');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (isLast && no > 1) {
        warnings.push(`${file}: line ${no} is truncated (iotrace stopped while writing it); read up to line ${no - 1}`);
        return;
      }
      fail(file, no, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (no === 1) {
      header = checkHeader(file, value);
      visit.header?.(header);
      return;
    }
    const line = value as RecordingLine;
    if (!line || typeof line !== 'object') fail(file, no, 'not a JSON object');
    if (line.type === 'snapshot') {
      if (!line.snapshot || !Array.isArray(line.snapshot.syscalls)) fail(file, no, 'snapshot line without a snapshot');
      visit.snapshot?.(line, no);
    } else if (line.type === 'events') {
      if (typeof line.tNs !== 'number' || typeof line.dropped !== 'number' || !Array.isArray(line.columns) || !Array.isArray(line.events)) {
        fail(file, no, 'events line without tNs, dropped, columns and events');
      }
      visit.events?.(line, no);
    } else if (line.type === 'summary') {
      if (!line.summary || !Array.isArray(line.summary.syscalls)) fail(file, no, 'summary line without a summary');
      visit.summary?.(line);
    } else if (line.type === 'header') {
      fail(file, no, 'a second header');
    } else {
      fail(file, no, `unknown line type "${String((line as { type?: unknown }).type)}"`);
    }
  };

  try {
    for await (const text of rl) {
      lineNo++;
      if (pending) handle(pending.text, pending.no, false);
      pending = { text, no: lineNo };
    }
  } catch (err) {
    if (err instanceof IotraceError) throw err;
    throw new IotraceError('EBADREC', `cannot read recording ${file}: ${describeSystemError(err)}`);
  } finally {
    rl.close();
    stream.destroy();
  }
  // Only a last line without its newline can be a write cut short; a complete
  // line that does not parse is corruption.
  if (pending) handle(pending.text, pending.no, !endsWithNewline(file));
  if (!header) throw new IotraceError('EBADREC', `${file}: empty recording (no header line)`);
  return { header, lines: lineNo, warnings };
}
