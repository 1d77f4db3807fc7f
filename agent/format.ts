// SPDX-License-Identifier: MIT
// Renders a summary and the live line as text for a terminal.
import { formatClassification } from './classify/format';
import type { Snapshot } from './snapshot';
import { ratesPerSec } from './snapshot';
import type { Summary, UringOpSummary } from './summary';
import { uringOpKind } from './uring-ops';

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtNs(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(3)} s`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Columns right-aligned except those named in `left`. */
function table(head: string[], rows: string[][], left: ReadonlySet<number> = new Set([0])): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

const TOP = 20;

/** The rings' share of the work, beside the syscalls' totals whose bytes it is not in. */
function uringTotalsLine(ops: readonly UringOpSummary[], durationNs: number): string {
  const bytes = { read: 0, write: 0, 'zero-copy': 0, accept: 0, other: 0 };
  for (const o of ops) bytes[uringOpKind(o.name)] += o.bytes;
  const submitted = ops.reduce((n, o) => n + o.submitted, 0);
  const errors = ops.reduce((n, o) => n + o.errors, 0);
  const perSec = durationNs > 0 ? `${fmtInt(submitted / (durationNs / 1e9))}/s` : '';
  return (
    `${fmtInt(submitted)} io_uring requests${perSec ? ` (${perSec})` : ''}, ${fmtInt(errors)} errors; ` +
    `copied in ${fmtBytes(bytes.read)}, out ${fmtBytes(bytes.write)}, zero-copy ${fmtBytes(bytes['zero-copy'])}`
  );
}

/** The io_uring requests table: opcodes a syscall table cannot show, latency from submission to completion. */
function formatUringOps(ops: readonly UringOpSummary[]): string[] {
  const n = (v: number): string => (v ? fmtInt(v) : '');
  return [
    'io_uring requests (latency: submission to completion):',
    ...table(
      ['opcode', 'submitted', 'completions', 'errors', 'EAGAIN', 'avg', 'p50', 'p99', 'max', 'bytes'],
      ops.map((o) => [
        o.name,
        fmtInt(o.submitted),
        fmtInt(o.completions),
        n(o.errors),
        n(o.eagain),
        fmtNs(o.avgNs),
        fmtNs(o.p50Ns),
        fmtNs(o.p99Ns),
        fmtNs(o.maxNs),
        o.bytes ? fmtBytes(o.bytes) : '',
      ]),
    ),
  ];
}

export function formatSummary(s: Summary): string {
  const out: string[] = [];
  const who = s.target.cmdline || s.target.comm || '?';
  out.push(
    `iotrace ${s.mode} pid ${s.target.pid} (${who}) via ${s.backend}: ${fmtNs(s.durationNs)}, ended by ${s.endReason}`,
  );
  // The header names the program first traced; after an exec the target is another one.
  const self = s.processes.find((p) => p.pid === s.target.pid);
  const ownExecs = (self?.execs ?? 0) - (s.mode === 'run' ? 1 : 0);
  if (self && ownExecs > 0) {
    out.push(`target exec'd ${ownExecs}×${self.cmdline && self.cmdline !== s.target.cmdline ? `, last seen as: ${self.cmdline}` : ''}`);
  }
  if (s.exit) {
    const how = s.exit.signal ? `killed by ${s.exit.signal}${s.exit.coreDumped ? ' (core dumped)' : ''}` : `exited with status ${s.exit.code}`;
    out.push(`target ${how}`);
  }
  const t = s.totals;
  out.push(
    `${fmtInt(t.calls)} syscalls (${fmtInt(t.callsPerSec)}/s), ${fmtInt(t.errors)} errors, ${fmtNs(t.totalNs)} inside syscalls; ` +
      `copied in ${fmtBytes(t.bytesCopiedIn)}, out ${fmtBytes(t.bytesCopiedOut)}, zero-copy ${fmtBytes(t.bytesZeroCopy)}`,
  );
  // Only where a ring was used: under ptrace there are none to show, and an
  // epoll server under eBPF has an empty list (--json still carries it).
  const uringOps = s.uringOps?.length ? s.uringOps : null;
  if (uringOps) out.push(uringTotalsLine(uringOps, s.durationNs));
  out.push('');
  // Older summaries (recordings made before the classifier) have none.
  if (s.classification) out.push(...formatClassification(s.classification), '');

  out.push(
    ...table(
      ['syscall', 'class', 'calls', 'errors', 'EAGAIN', 'total', 'avg', 'p50', 'p99', 'max', 'bytes'],
      s.syscalls.map((c) => [
        c.name,
        c.cls,
        fmtInt(c.calls),
        c.errors ? fmtInt(c.errors) : '',
        c.eagain ? fmtInt(c.eagain) : '',
        fmtNs(c.totalNs),
        fmtNs(c.avgNs),
        fmtNs(c.p50Ns),
        fmtNs(c.p99Ns),
        fmtNs(c.maxNs),
        c.bytes ? fmtBytes(c.bytes) : '',
      ]),
      new Set([0, 1]),
    ),
  );
  const errs = s.syscalls
    .filter((c) => c.errors > 0)
    .map((c) => `${c.name} ${Object.entries(c.errnos).sort((a, b) => b[1] - a[1]).map(([e, n]) => `${e}×${fmtInt(n)}`).join(' ')}`);
  if (errs.length) out.push('', `errors by errno: ${errs.join('; ')}`);
  if (uringOps) out.push('', ...formatUringOps(uringOps));

  const fds = s.fds.filter((f) => f.calls > 0);
  if (fds.length) {
    out.push('', 'file descriptors (by bytes):');
    out.push(
      ...table(
        ['pid', 'fd', 'type', 'calls', 'in', 'out', 'reused', 'what'],
        fds.slice(0, TOP).map((f) => [
          String(f.pid),
          String(f.fd),
          f.type,
          fmtInt(f.calls),
          fmtBytes(f.bytesIn),
          fmtBytes(f.bytesOut),
          f.closes > 1 ? `${fmtInt(f.closes)}×` : '',
          f.desc,
        ]),
        new Set([2, 7]),
      ),
    );
    if (fds.length > TOP) out.push(`(+${fds.length - TOP} more; --json lists all)`);
  }

  out.push('', 'threads:');
  out.push(
    ...table(
      ['pid', 'tid', 'calls', 'in syscalls', 'in', 'out', 'state'],
      s.threads.slice(0, TOP).map((th) => [
        String(th.pid),
        String(th.tid),
        fmtInt(th.calls),
        fmtNs(th.totalNs),
        fmtBytes(th.bytesIn),
        fmtBytes(th.bytesOut),
        th.alive ? 'alive' : 'exited',
      ]),
      new Set([6]),
    ),
  );
  if (s.threads.length > TOP) out.push(`(+${s.threads.length - TOP} more; --json lists all)`);
  const tc = s.threadCounts;
  if (tc && tc.ended) {
    const f = s.threadsFolded;
    out.push(
      `threads seen: ${fmtInt(tc.seen)}, ended: ${fmtInt(tc.ended)}` +
        (f ? `; ${fmtInt(f.threads)} ended threads not listed: ${fmtInt(f.calls)} calls, ${fmtNs(f.totalNs)} in syscalls, ${fmtBytes(f.bytesIn)} in, ${fmtBytes(f.bytesOut)} out` : ''),
    );
  }

  const k = s.counters;
  const events: string[] = [];
  if (k.clones) events.push(`${fmtInt(k.clones)} threads created`);
  if (k.threadExits) events.push(`${fmtInt(k.threadExits)} threads ended`);
  if (k.forks) events.push(`${fmtInt(k.forks)} processes forked`);
  if (k.execs) events.push(`${fmtInt(k.execs)} execs`);
  if (k.signals) events.push(`${fmtInt(k.signals)} signals delivered`);
  if (k.groupStops) events.push(`${fmtInt(k.groupStops)} job-control stops`);
  if (events.length) out.push('', `events: ${events.join(', ')}`);
  const children = s.processes.filter((p) => p.parentPid !== 0);
  for (const p of children.slice(0, TOP)) {
    const end = p.exited ? (p.exitSignal ? `killed by ${p.exitSignal}` : `exited ${p.exitCode}`) : 'running';
    out.push(`  child pid ${p.pid} of ${p.parentPid}${p.execs ? `, exec'd ${p.execs}×` : ''}: ${end}${p.cmdline ? ` (${p.cmdline})` : ''}`);
  }
  const notCounted: string[] = [];
  if (k.unmatchedExits) notCounted.push(`${fmtInt(k.unmatchedExits)} syscalls already in progress at attach`);
  if (k.foreignArch) notCounted.push(`${fmtInt(k.foreignArch)} 32-bit (ia32/x32) syscalls`);
  if (k.unknownNr) notCounted.push(`${fmtInt(k.unknownNr)} calls of unknown syscall numbers`);
  if (k.fdOverflow || k.threadOverflow || k.processOverflow) {
    notCounted.push(`table overflow: ${k.fdOverflow} fd, ${k.threadOverflow} thread, ${k.processOverflow} process updates`);
  }
  if (notCounted.length) out.push('', `not counted: ${notCounted.join('; ')}`);
  for (const w of s.warnings) out.push(`warning: ${w}`);
  return out.join('\n') + '\n';
}

/** One line per interval while tracing without the dashboard. */
export function formatLiveLine(cur: Snapshot, prev: Snapshot | undefined): string {
  const r = ratesPerSec(prev, cur);
  const secs = (cur.tNs / 1e9).toFixed(1).padStart(6);
  return (
    `${secs}s  ${fmtInt(r.total).padStart(9)} syscalls/s  wait ${fmtInt(r.wait)}  read ${fmtInt(r.read)}  ` +
    `write ${fmtInt(r.write)}  zero-copy ${fmtInt(r['zero-copy'])}  other ${fmtInt(r.other)}  threads ${cur.tracees}`
  );
}
