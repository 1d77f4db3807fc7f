// SPDX-License-Identifier: MIT
// The busiest file descriptors: bytes in and out since the start, with type
// and path or peer.
import { fmtBytes, fmtInt } from '../../agent/format';
import type { Snapshot } from '../../agent/snapshot';
import { fitTable, type Column } from './table';

const COLUMNS: Column[] = [
  { head: 'pid', align: 'right', drop: 2 },
  { head: 'fd', align: 'right', drop: 0 },
  { head: 'type', align: 'left', drop: 0 },
  { head: 'in', align: 'right', drop: 0 },
  { head: 'out', align: 'right', drop: 0 },
  { head: 'calls', align: 'right', drop: 1 },
  { head: 'path / peer', align: 'left', drop: 0, flex: 16 },
];

export function fdLines(cur: Snapshot | undefined, width: number, top: number): string[] {
  if (!cur) return ['waiting for the first snapshot…'];
  const fds = cur.fds
    .filter((f) => f.calls > 0)
    .sort((a, b) => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut) || b.calls - a.calls)
    .slice(0, top);
  const rows = fds.map((f) => [String(f.pid), String(f.fd), f.type, fmtBytes(f.bytesIn), fmtBytes(f.bytesOut), fmtInt(f.calls), f.desc]);
  return fitTable(COLUMNS, rows, width);
}
