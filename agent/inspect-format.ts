// SPDX-License-Identifier: MIT
// Renders an inspection (agent/inspection.ts) as a compact text picture: per
// process, what its threads are blocked in, its descriptors by type, listening
// sockets, epoll instances and io_uring rings.
import { fmtInt } from './format';
import type { InspectedFd, InspectedProcess, InspectedThread, Inspection } from './inspection';

const SOCKET_TYPES: ReadonlySet<string> = new Set(['tcp', 'tcp6', 'udp', 'udp6', 'unix', 'socket']);
/** Lines per list (epoll instances, rings, listening sockets) and fds per thread group. */
const TOP = 10;
const TOP_FDS = 6;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

function stateLabel(t: InspectedThread): string {
  switch (t.state) {
    case 'R':
      return 'running';
    case 'T':
      return 'stopped (job control)';
    case 't':
      return 'stopped by a tracer';
    case 'Z':
      return 'exited (zombie)';
    case 'D':
      return 'in uninterruptible sleep outside a syscall';
    default:
      return `not in a syscall (state ${t.state})`;
  }
}

/** "2 threads in read(fd 5, 6)", "1 thread running", "1 io_uring SQPOLL thread": the most common first. */
function threadGroups(p: InspectedProcess): string[] {
  const sqThreads = new Set(p.ioUring.map((r) => r.sqThread).filter((t): t is number => t !== null));
  const groups = new Map<string, { n: number; fds: Set<number>; label: (n: number) => string }>();
  for (const t of p.threads) {
    let key: string;
    let label: (n: number) => string;
    if (t.ioWorker) {
      const sqpoll = sqThreads.has(t.tid) || t.comm.startsWith('iou-sqp-');
      key = sqpoll ? '\0sqpoll' : '\0iowq';
      label = (n) => (sqpoll ? plural(n, 'io_uring SQPOLL thread') : plural(n, 'io_uring worker thread'));
    } else if (t.syscall) {
      key = t.syscall.name;
      const name = t.syscall.name;
      label = (n) => `${plural(n, 'thread')} in ${name}`;
    } else {
      key = `\0state ${t.state}`;
      const what = stateLabel(t);
      label = (n) => `${plural(n, 'thread')} ${what}`;
    }
    const g = groups.get(key) ?? { n: 0, fds: new Set<number>(), label };
    g.n++;
    if (t.syscall?.fd !== null && t.syscall?.fd !== undefined) g.fds.add(t.syscall.fd);
    groups.set(key, g);
  }
  return [...groups.values()]
    .sort((a, b) => b.n - a.n)
    .map((g) => {
      const fds = [...g.fds].sort((a, b) => a - b);
      if (!fds.length) return g.label(g.n);
      const more = fds.length > TOP_FDS ? `, +${fmtInt(fds.length - TOP_FDS)} more` : '';
      return `${g.label(g.n)}(fd ${fds.slice(0, TOP_FDS).join(', ')}${more})`;
    });
}

/** "tcp 102 (98 non-blocking, 0 O_ASYNC), file 3, epoll 1": sockets always show their flags, others when set. */
function fdTypes(fds: readonly InspectedFd[]): string {
  const byType = new Map<string, { n: number; nonblock: number; async: number }>();
  for (const f of fds) {
    const t = byType.get(f.type) ?? { n: 0, nonblock: 0, async: 0 };
    t.n++;
    if (f.nonblock) t.nonblock++;
    if (f.async) t.async++;
    byType.set(f.type, t);
  }
  return [...byType.entries()]
    .sort((a, b) => b[1].n - a[1].n || a[0].localeCompare(b[0]))
    .map(([type, t]) => {
      const flags = SOCKET_TYPES.has(type) || t.nonblock || t.async ? ` (${fmtInt(t.nonblock)} non-blocking, ${fmtInt(t.async)} O_ASYNC)` : '';
      return `${type} ${fmtInt(t.n)}${flags}`;
    })
    .join(', ');
}

function row(label: string, text: string): string {
  return `  ${label.padEnd(10)} ${text}`;
}

function more(n: number, what: string): string[] {
  return n > TOP ? [row('', `(+${fmtInt(n - TOP)} more ${what}; --json lists all)`)] : [];
}

function formatProcess(p: InspectedProcess): string[] {
  const out: string[] = [];
  const parent = p.parentPid ? ` (child of ${p.parentPid})` : '';
  out.push(`pid ${p.pid}${parent} ${p.comm}: ${p.cmdline || '?'}`);
  out.push(row(`threads`, `${fmtInt(p.threads.length)}: ${threadGroups(p).join(', ')}`));
  const capped = p.fds.length < p.fdCount ? ` (lowest ${fmtInt(p.fds.length)} listed)` : '';
  out.push(row('fds', `${fmtInt(p.fdCount)}${capped}${p.fds.length ? `: ${fdTypes(p.fds)}` : ''}`));

  const listening = p.fds.filter((f) => f.desc.endsWith(' (listening)'));
  if (listening.length) {
    const shown = listening.slice(0, TOP).map((f) => `${f.desc.replace(/ \(listening\)$/, '')} (fd ${f.fd}, ${f.type})`);
    out.push(row('listening', shown.join(', ') + (listening.length > TOP ? `, +${fmtInt(listening.length - TOP)} more` : '')));
  }

  for (const e of p.epoll.slice(0, TOP)) {
    const parts = [plural(e.count, 'registered fd', 'registered fds')];
    if (e.count) parts.push(e.edge === 0 ? 'all level-triggered' : e.edge === e.count ? 'all edge-triggered (EPOLLET)' : `${fmtInt(e.edge)} edge-triggered (EPOLLET)`);
    if (e.oneshot) parts.push(`${fmtInt(e.oneshot)} EPOLLONESHOT`);
    if (e.exclusive) parts.push(`${fmtInt(e.exclusive)} EPOLLEXCLUSIVE`);
    out.push(row('epoll', `fd ${e.fd}: ${parts.join(', ')}`));
  }
  out.push(...more(p.epoll.length, 'epoll instances'));

  for (const r of p.ioUring.slice(0, TOP)) {
    const sq = r.sqThread !== null ? `SQPOLL thread ${r.sqThread}` : 'no SQPOLL thread';
    const sizes = r.sqEntries !== null && r.cqEntries !== null ? `, SQ ${fmtInt(r.sqEntries)} / CQ ${fmtInt(r.cqEntries)} entries` : '';
    out.push(row('io_uring', `fd ${r.fd}: ${sq}${sizes}`));
  }
  out.push(...more(p.ioUring.length, 'io_uring instances'));
  return out;
}

/** The inspection as text, one block per process, the one asked for first. */
export function formatInspection(ins: Inspection): string {
  const first = ins.processes[0];
  const threads = ins.processes.reduce((n, p) => n + p.threads.length, 0);
  const fds = ins.processes.reduce((n, p) => n + p.fdCount, 0);
  const out = [
    `iotrace inspect pid ${first.pid} (${first.cmdline || first.comm}): ` +
      `${plural(ins.processes.length, 'process', 'processes')}, ${plural(threads, 'thread')}, ${plural(fds, 'fd')}; ` +
      `read from /proc in ${ins.durationMs.toFixed(1)} ms`,
  ];
  for (const p of ins.processes) out.push('', ...formatProcess(p));
  return out.join('\n') + '\n';
}
