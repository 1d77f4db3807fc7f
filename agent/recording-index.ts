// SPDX-License-Identifier: MIT
// Random access to a recording's snapshots for replay: one validating pass
// (readRecording, which names any bad line) keeps only each snapshot's time
// and byte range; a snapshot is read from the file when it is shown. Memory
// stays a few numbers per snapshot whatever the file's size.
import * as fs from 'node:fs';

import { describeSystemError, IotraceError } from './errors';
import { readRecording } from './recording';
import type { SessionHeader, SnapshotLine } from './recording-schema';
import type { Snapshot } from './snapshot';

export interface RecordingIndex {
  file: string;
  header: SessionHeader;
  /** Per snapshot line: its time and where its text is. */
  snapshots: Array<{ tNs: number; offset: number; length: number }>;
  warnings: string[];
}

/** Byte offset of the start of every line (index 0 is line 1). */
function lineOffsets(file: string): number[] {
  const offsets = [0];
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      for (let i = buf.indexOf(0x0a, 0); i >= 0 && i < n; i = buf.indexOf(0x0a, i + 1)) offsets.push(pos + i + 1);
      pos += n;
    }
    offsets.push(pos);
  } finally {
    fs.closeSync(fd);
  }
  return offsets;
}

export async function indexRecording(file: string): Promise<RecordingIndex> {
  const seen: Array<{ tNs: number; lineNo: number }> = [];
  const { header, warnings } = await readRecording(file, {
    snapshot: (s: SnapshotLine, lineNo: number) => seen.push({ tNs: s.snapshot.tNs, lineNo }),
  });
  if (!seen.length) throw new IotraceError('EBADREC', `${file}: the recording has a header but no snapshot yet`);
  let offsets: number[];
  try {
    offsets = lineOffsets(file);
  } catch (err) {
    throw new IotraceError('EBADREC', `cannot read recording ${file}: ${describeSystemError(err)}`);
  }
  const snapshots = seen.map(({ tNs, lineNo }) => ({ tNs, offset: offsets[lineNo - 1], length: offsets[lineNo] - offsets[lineNo - 1] }));
  return { file, header, snapshots, warnings };
}

/** The i-th snapshot, read again from the file (it was validated by indexRecording). */
export function loadSnapshot(index: RecordingIndex, i: number): Snapshot {
  const { offset, length } = index.snapshots[i];
  const buf = Buffer.alloc(length);
  const fd = fs.openSync(index.file, 'r');
  try {
    fs.readSync(fd, buf, 0, length, offset);
  } finally {
    fs.closeSync(fd);
  }
  try {
    return (JSON.parse(buf.toString('utf8')) as SnapshotLine).snapshot;
  } catch {
    throw new IotraceError('EBADREC', `${index.file}: changed while it was replayed`);
  }
}
