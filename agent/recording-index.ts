// SPDX-License-Identifier: MIT
// Random access to a recording's snapshots for replay: one validating pass
// (readRecording, which names any bad line) keeps only each snapshot's time
// and byte range; a snapshot is read from the file when it is shown. Memory
// stays 24 bytes per snapshot whatever the file's size.
import * as fs from 'node:fs';

import { describeSystemError, IotraceError } from './errors';
import { readRecording } from './recording';
import type { SessionHeader, SnapshotLine } from './recording-schema';
import type { Snapshot } from './snapshot';

export interface RecordingIndex {
  file: string;
  header: SessionHeader;
  /** Snapshot lines in the file. */
  count: number;
  /** The i-th snapshot's tNs. */
  timeNs(i: number): number;
  warnings: string[];
  /** Per snapshot: tNs, byte offset and length of its line, in 3 parallel growable arrays. */
  readonly ranges: { tNs: Float64Array; offset: Float64Array; length: Float64Array };
}

function grown(a: Float64Array, n: number): Float64Array {
  if (n < a.length) return a;
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

export async function indexRecording(file: string): Promise<RecordingIndex> {
  let count = 0;
  let tNs: Float64Array = new Float64Array(1024);
  let offset: Float64Array = new Float64Array(1024);
  let length: Float64Array = new Float64Array(1024);
  const { header, warnings } = await readRecording(file, {
    snapshot: (s: SnapshotLine, _lineNo, range) => {
      tNs = grown(tNs, count);
      offset = grown(offset, count);
      length = grown(length, count);
      tNs[count] = s.snapshot.tNs;
      offset[count] = range.offset;
      length[count] = range.length;
      count++;
    },
  });
  if (!count) throw new IotraceError('EBADREC', `${file}: the recording has a header but no snapshot yet`);
  const ranges = { tNs, offset, length };
  return { file, header, count, timeNs: (i) => ranges.tNs[i], warnings, ranges };
}

/** The i-th snapshot, read again from the file (it was validated by indexRecording). */
export function loadSnapshot(index: RecordingIndex, i: number): Snapshot {
  const offset = index.ranges.offset[i];
  const length = index.ranges.length[i];
  const buf = Buffer.alloc(length);
  let n: number;
  try {
    const fd = fs.openSync(index.file, 'r');
    try {
      n = fs.readSync(fd, buf, 0, length, offset);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new IotraceError('EBADREC', `cannot read recording ${index.file}: ${describeSystemError(err)}`);
  }
  try {
    if (n !== length) throw new Error('short read');
    return (JSON.parse(buf.toString('utf8')) as SnapshotLine).snapshot;
  } catch {
    throw new IotraceError('EBADREC', `${index.file}: changed while it was replayed`);
  }
}
