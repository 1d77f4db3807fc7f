// SPDX-License-Identifier: MIT
// Reads a recording line by line, in bounded memory, with errors that name the
// line; a truncated last line (iotrace killed mid-write) is a warning.
import * as fs from 'node:fs';

import { describeSystemError, IotraceError } from './errors';
import {
  MAX_LINE_BYTES,
  RECORDING_MAJOR,
  type EventsLine,
  type RecordingLine,
  type SessionHeader,
  type SnapshotLine,
  type SummaryLine,
} from './recording-schema';

/** Where a line's text is in the file: offset of its first byte, and its length with the newline. */
export interface LineRange {
  offset: number;
  length: number;
}

export interface RecordingVisitor {
  header?(h: SessionHeader): void;
  snapshot?(s: SnapshotLine, lineNo: number, range: LineRange): void;
  /** --events recordings only; readers that do not ask for them skip them. */
  events?(e: EventsLine, lineNo: number): void;
  summary?(s: SummaryLine): void;
}

export interface RecordingReadResult {
  header: SessionHeader;
  lines: number;
  warnings: string[];
}

/** Bytes read at a time. */
const CHUNK_BYTES = 1 << 20;

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
  if (!h.target || typeof h.target !== 'object' || typeof h.startTime !== 'string' || typeof h.intervalMs !== 'number' || typeof h.backend !== 'string') {
    fail(file, 1, 'the header lacks target, startTime, intervalMs or backend');
  }
  return h as SessionHeader;
}

interface RawLine extends LineRange {
  text: string;
  no: number;
  /** false: the file ends without a newline after it. */
  complete: boolean;
}

/**
 * The file's lines, split on "\n" from chunks of bytes. Unlike readline, a
 * line is never held past MAX_LINE_BYTES: a 2 GB line without a newline
 * fails as soon as its first 64 MiB are seen.
 */
async function* splitLines(file: string, stream: AsyncIterable<Buffer>): AsyncGenerator<RawLine> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let no = 1;
  let offset = 0;
  const take = (): string => {
    const text = parts.length === 1 ? parts[0].toString('utf8') : Buffer.concat(parts, partBytes).toString('utf8');
    parts = [];
    return text;
  };
  for await (const chunk of stream) {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      const end = nl < 0 ? chunk.length : nl;
      if (partBytes + end - from > MAX_LINE_BYTES) {
        fail(file, no, `longer than ${MAX_LINE_BYTES / (1 << 20)} MiB, more than iotrace writes in a line (not a recording, or a damaged one)`);
      }
      if (end > from) parts.push(chunk.subarray(from, end));
      partBytes += end - from;
      if (nl < 0) break;
      const length = partBytes + 1;
      yield { text: take(), no, offset, length, complete: true };
      offset += length;
      partBytes = 0;
      no++;
      from = nl + 1;
    }
  }
  if (partBytes > 0) yield { text: take(), no, offset, length: partBytes, complete: false };
}

/** Arrays every reader walks, and entries that are objects: a line of another shape fails here, naming itself, not deep in a reader. */
function checkSnapshot(file: string, no: number, line: SnapshotLine): void {
  const s = line.snapshot as unknown as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object') fail(file, no, 'snapshot line without a snapshot');
  if (typeof s.tNs !== 'number') fail(file, no, 'snapshot without a numeric tNs');
  for (const key of ['syscalls', 'fds', 'threads', 'processes']) {
    const list = s[key];
    if (!Array.isArray(list)) fail(file, no, `snapshot without a ${key} array`);
    if (list.some((e) => !e || typeof e !== 'object')) fail(file, no, `snapshot.${key} holds something other than objects`);
  }
  if (!s.counters || typeof s.counters !== 'object') fail(file, no, 'snapshot without counters');
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
    stream = fs.createReadStream('', { fd, highWaterMark: CHUNK_BYTES });
  } catch (err) {
    if (err instanceof IotraceError) throw err;
    throw new IotraceError('EBADREC', `cannot read recording ${file}: ${describeSystemError(err)}`);
  }
  const warnings: string[] = [];
  let header: SessionHeader | undefined;
  let lines = 0;

  const handle = ({ text, no, offset, length, complete }: RawLine): void => {
    // JSON.parse takes "\r" as white space: CRLF files read as they are.
    if (!text.trim()) fail(file, no, no === 1 ? 'empty; a recording starts with its header line' : 'an empty line');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // Only a last line without its newline can be a write cut short; a
      // complete line that does not parse is corruption.
      if (!complete && no > 1) {
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
    if (!line || typeof line !== 'object' || Array.isArray(line)) fail(file, no, 'not a JSON object');
    if (line.type === 'snapshot') {
      checkSnapshot(file, no, line);
      visit.snapshot?.(line, no, { offset, length });
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
    for await (const raw of splitLines(file, stream as AsyncIterable<Buffer>)) {
      lines = raw.no;
      handle(raw);
    }
  } catch (err) {
    if (err instanceof IotraceError) throw err;
    throw new IotraceError('EBADREC', `cannot read recording ${file}: ${describeSystemError(err)}`);
  } finally {
    stream.destroy();
  }
  if (!header) throw new IotraceError('EBADREC', `${file}: empty recording (no header line)`);
  return { header, lines, warnings };
}
