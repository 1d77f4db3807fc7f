// SPDX-License-Identifier: MIT
// The syscall table: one row per syscall seen, its rate over the last
// interval and its session totals, sorted by the key the user picked.
import { fmtBytes, fmtInt, fmtNs } from '../../agent/format';
import { quantileNs } from '../../agent/histogram';
import type { Snapshot, SyscallStat } from '../../agent/snapshot';
import { fitTable, type Column } from './table';

export const SORT_KEYS = ['rate', 'time', 'calls', 'errors', 'p99', 'bytes', 'name'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface SyscallRow {
  name: string;
  stat: SyscallStat;
  ratePerSec: number;
  calls: number;
  /** Errors other than EAGAIN, which is a normal answer for non-blocking fds. */
  errors: number;
  eagain: number;
  totalNs: number;
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
  bytes: number;
}

export function nextSort(k: SortKey): SortKey {
  return SORT_KEYS[(SORT_KEYS.indexOf(k) + 1) % SORT_KEYS.length];
}

const BY: Record<SortKey, (r: SyscallRow) => number> = {
  rate: (r) => r.ratePerSec,
  time: (r) => r.totalNs,
  calls: (r) => r.calls,
  errors: (r) => r.errors + r.eagain,
  p99: (r) => r.p99Ns,
  bytes: (r) => r.bytes,
  name: () => 0,
};

export function syscallRows(prev: Snapshot | undefined, cur: Snapshot | undefined, sort: SortKey): SyscallRow[] {
  if (!cur) return [];
  const before = new Map((prev?.syscalls ?? []).map((s) => [s.nr, s.calls]));
  const dtSec = prev ? (cur.tNs - prev.tNs) / 1e9 : cur.tNs / 1e9;
  const rows = cur.syscalls
    .filter((s) => s.calls > 0)
    .map((s) => ({
      name: s.name,
      stat: s,
      ratePerSec: dtSec > 0 ? Math.max(0, s.calls - (before.get(s.nr) ?? 0)) / dtSec : 0,
      calls: s.calls,
      errors: s.errors - s.eagain,
      eagain: s.eagain,
      totalNs: s.totalNs,
      p50Ns: quantileNs(s.latLog2, 0.5, s.maxNs),
      p99Ns: quantileNs(s.latLog2, 0.99, s.maxNs),
      maxNs: s.maxNs,
      bytes: s.bytes,
    }));
  const key = BY[sort];
  return rows.sort((a, b) => key(b) - key(a) || a.name.localeCompare(b.name));
}

const COLUMNS: Column[] = [
  { head: 'syscall', align: 'left', drop: 0, flex: 15 },
  { head: 'rate/s', align: 'right', drop: 0 },
  { head: 'calls', align: 'right', drop: 4 },
  { head: 'errors', align: 'right', drop: 3 },
  { head: 'EAGAIN', align: 'right', drop: 2 },
  { head: 'p50', align: 'right', drop: 5 },
  { head: 'p99', align: 'right', drop: 0 },
  { head: 'max', align: 'right', drop: 6 },
  { head: 'bytes', align: 'right', drop: 1 },
];

/** The head line and the rows; '›' marks the selected syscall. */
export function syscallTable(rows: SyscallRow[], selected: string | undefined, width: number): string[] {
  const cells = rows.map((r) => [
    r.name,
    fmtInt(r.ratePerSec),
    fmtInt(r.calls),
    r.errors ? fmtInt(r.errors) : '',
    r.eagain ? fmtInt(r.eagain) : '',
    fmtNs(r.p50Ns),
    fmtNs(r.p99Ns),
    fmtNs(r.maxNs),
    r.bytes ? fmtBytes(r.bytes) : '',
  ]);
  return fitTable(COLUMNS, cells, width, rows.map((r) => (r.name === selected ? '›' : ' ')));
}
