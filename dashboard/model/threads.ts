// SPDX-License-Identifier: MIT
// Who waits where: each thread's current syscall, on which fd (with what
// that fd is), for how long, and its activity over the last interval.
import { fmtInt, fmtNs } from '../../agent/format';
import type { FdStat, Snapshot } from '../../agent/snapshot';
import { fitTable, type Column } from './table';

const COLUMNS: Column[] = [
  { head: 'tid', align: 'right', drop: 0 },
  { head: 'now', align: 'left', drop: 0, flex: 20 },
  { head: 'for', align: 'right', drop: 0 },
  { head: 'calls/s', align: 'right', drop: 1 },
];

export function fdKey(pid: number, fd: number): string {
  return `${pid}:${fd}`;
}

function fdText(f: FdStat | undefined, fd: number): string {
  if (fd < 0) return '';
  if (!f) return ` fd ${fd}`;
  return ` fd ${fd} ${f.type}${f.desc ? ` ${f.desc}` : ''}`;
}

export function threadLines(prev: Snapshot | undefined, cur: Snapshot | undefined, width: number): string[] {
  if (!cur) return ['waiting for the first snapshot…'];
  const fds = new Map(cur.fds.map((f) => [fdKey(f.pid, f.fd), f]));
  const before = new Map((prev?.threads ?? []).map((t) => [t.tid, t.calls]));
  const dtSec = prev ? (cur.tNs - prev.tNs) / 1e9 : 0;
  // Live threads first, then by tid: rows keep their place between refreshes.
  const threads = cur.threads.slice().sort((a, b) => Number(b.alive) - Number(a.alive) || a.tid - b.tid);
  const rows = threads.map((t) => {
    const now = !t.alive ? 'exited' : t.current ? `${t.current.name}${fdText(fds.get(fdKey(t.pid, t.current.fd)), t.current.fd)}` : 'running (user space)';
    const rate = dtSec > 0 ? Math.max(0, t.calls - (before.get(t.tid) ?? 0)) / dtSec : 0;
    return [String(t.tid), now, t.current ? fmtNs(t.current.forNs) : '', fmtInt(rate)];
  });
  return fitTable(COLUMNS, rows, width);
}
