// SPDX-License-Identifier: MIT
// The Prometheus metric families iotrace exports, each a pure function of the
// targets' latest snapshots: rendered at scrape time, nothing per syscall.
import { classify } from '../classify';
import type { Classification } from '../classify/vocabulary';
import type { SessionHeader } from '../recording-schema';
import { rateGroup, type Counters, type Snapshot, type SyscallStat } from '../snapshot';

/** One traced process as the exporter sees it. */
export interface TargetState {
  header: SessionHeader;
  /** The newest snapshot (cumulative since the session started); undefined before the first. */
  snapshot: Snapshot | undefined;
  /** Date.now() when that snapshot was taken. */
  atMs: number;
  /** False once the session has ended: the snapshot is then its final one. */
  traced: boolean;
}

export type Labels = Record<string, string>;
export interface Sample {
  /** For histograms: name_bucket, name_sum, name_count. */
  metricName?: string;
  labels: Labels;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  samples(t: TargetState, nowMs: number): Sample[];
}

/**
 * Upper bounds of the duration histogram, as powers of two in ns: the
 * backends' own log2 buckets (latLog2[i] holds 2^i <= ns < 2^(i+1)), so every
 * bucket is exact. 2^8 ns (256 ns, a cached read) to 2^31 ns (2.1 s, a long
 * epoll_wait); latLog2[31] is open-ended (probes/iotrace.h) and goes to +Inf.
 */
export const LE_EXPONENTS: readonly number[] = Array.from({ length: 24 }, (_, i) => i + 8);

function targetLabels(t: TargetState): Labels {
  return { pid: String(t.header.target.pid), comm: t.header.target.comm };
}

function syscallLabels(t: TargetState, s: SyscallStat): Labels {
  return { ...targetLabels(t), syscall: s.name, class: s.cls };
}

function durationSamples(name: string, base: Labels, s: SyscallStat): Sample[] {
  const out: Sample[] = [];
  let cum = 0;
  let i = 0;
  for (const e of LE_EXPONENTS) {
    while (i < e) cum += s.latLog2[i++] ?? 0;
    // Capped at the calls: a histogram's buckets never exceed its count.
    out.push({ metricName: `${name}_bucket`, labels: { ...base, le: String(2 ** e / 1e9) }, value: Math.min(cum, s.calls) });
  }
  // +Inf and _count are the calls, as iotrace_syscalls_total says.
  out.push({ metricName: `${name}_bucket`, labels: { ...base, le: '+Inf' }, value: s.calls });
  out.push({ metricName: `${name}_sum`, labels: base, value: s.totalNs / 1e9 });
  out.push({ metricName: `${name}_count`, labels: base, value: s.calls });
  return out;
}

/** Counters of things seen but not counted, by the reason label they get. */
const DROPPED: ReadonlyArray<[keyof Counters, string]> = [
  ['unknownNr', 'unknown_syscall'],
  ['foreignArch', 'foreign_arch'],
  ['unmatchedExits', 'unmatched_exit'],
  ['fdOverflow', 'fd_table_full'],
  ['threadOverflow', 'thread_table_full'],
  ['processOverflow', 'process_table_full'],
  ['uringOverflow', 'uring_table_full'],
];

// The classifier reads the whole snapshot: once per snapshot, not per scrape.
const classified = new WeakMap<Snapshot, Classification>();
function classificationOf(t: TargetState, s: Snapshot): Classification {
  let c = classified.get(s);
  if (!c) {
    c = classify({ window: s, inspection: t.header.inspection ?? null });
    classified.set(s, c);
  }
  return c;
}

const joined = (labels: string[]): string => labels.join('+') || 'none';

const SYSCALL_DURATION = 'iotrace_syscall_duration_seconds';

export const FAMILIES: readonly Family[] = [
  {
    name: 'iotrace_syscalls_total',
    help: 'Syscalls made by the target, by name and I/O class (probes/syscalls.tbl).',
    type: 'counter',
    samples: (t) => (t.snapshot?.syscalls ?? []).map((s) => ({ labels: syscallLabels(t, s), value: s.calls })),
  },
  {
    name: SYSCALL_DURATION,
    help: 'Syscall latency, entry to exit, from the backend\'s log2 histogram.',
    type: 'histogram',
    samples: (t) => (t.snapshot?.syscalls ?? []).flatMap((s) => durationSamples(SYSCALL_DURATION, syscallLabels(t, s), s)),
  },
  {
    name: 'iotrace_syscall_errors_total',
    help: 'Syscalls that returned an error, by errno.',
    type: 'counter',
    samples: (t) =>
      (t.snapshot?.syscalls ?? []).flatMap((s) =>
        Object.entries(s.errnos).map(([errno, n]) => ({ labels: { ...syscallLabels(t, s), errno }, value: n })),
      ),
  },
  {
    name: 'iotrace_bytes_total',
    help: 'Bytes moved by data syscalls: copied in (read family) or out (write family), or out without a user-space copy (sendfile, splice, copy_file_range).',
    type: 'counter',
    samples: (t) => {
      if (!t.snapshot) return [];
      // The groups of the summary's totals (bytesCopiedIn, bytesCopiedOut, bytesZeroCopy).
      const by = { read: 0, write: 0, 'zero-copy': 0 } as Record<string, number>;
      for (const s of t.snapshot.syscalls) {
        const g = rateGroup(s.cls);
        if (g in by) by[g] += s.bytes;
      }
      const base = targetLabels(t);
      return [
        { labels: { ...base, direction: 'in', path: 'copy' }, value: by.read },
        { labels: { ...base, direction: 'out', path: 'copy' }, value: by.write },
        { labels: { ...base, direction: 'out', path: 'zero_copy' }, value: by['zero-copy'] },
      ];
    },
  },
  {
    name: 'iotrace_classification_info',
    help: 'The I/O model of the traced session so far (shared/IO-MODELS.md vocabulary); always 1, the model is in the labels.',
    type: 'gauge',
    samples: (t) => {
      if (!t.snapshot) return [];
      const c = classificationOf(t, t.snapshot);
      const labels = {
        ...targetLabels(t),
        wait: joined(c.wait.map((w) => w.label)),
        trigger: c.epollTrigger?.label ?? 'none',
        data: joined(c.data.filter((d) => !d.minor).map((d) => d.label)),
        concurrency: joined(c.concurrency.map((x) => x.label)),
      };
      return [{ labels, value: 1 }];
    },
  },
  {
    name: 'iotrace_events_dropped_total',
    help: 'Syscalls and events the backend saw but could not count, by reason (full tables, unknown syscall numbers).',
    type: 'counter',
    samples: (t) => {
      const c = t.snapshot?.counters;
      if (!c) return [];
      return DROPPED.map(([key, reason]) => ({ labels: { ...targetLabels(t), reason }, value: c[key] ?? 0 }));
    },
  },
  {
    name: 'iotrace_snapshot_lag_seconds',
    help: 'Age of the exported figures: seconds since the backend was last read for this target.',
    type: 'gauge',
    samples: (t, nowMs) => (t.snapshot ? [{ labels: targetLabels(t), value: Math.max(0, nowMs - t.atMs) / 1000 }] : []),
  },
  {
    name: 'iotrace_traced_seconds',
    help: 'How long the target has been traced (the span its counters cover).',
    type: 'gauge',
    samples: (t) => (t.snapshot ? [{ labels: targetLabels(t), value: t.snapshot.tNs / 1e9 }] : []),
  },
  {
    name: 'iotrace_target_traced',
    help: '1 while the target is traced, 0 once its session ended (target exit, --duration): the figures are then final.',
    type: 'gauge',
    samples: (t) => [{ labels: targetLabels(t), value: t.traced ? 1 : 0 }],
  },
  {
    name: 'iotrace_backend_info',
    help: 'The backend tracing the target and why it was chosen; always 1.',
    type: 'gauge',
    samples: (t) => [{ labels: { ...targetLabels(t), backend: t.header.backend, reason: t.header.backendReason ?? '' }, value: 1 }],
  },
];
