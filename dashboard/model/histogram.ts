// SPDX-License-Identifier: MIT
// The latency histogram of one syscall as text bars, straight from the
// backend's log2 buckets (bucket i: 2^i <= ns < 2^(i+1)).
import { fmtInt } from '../../agent/format';
import type { SyscallStat } from '../../agent/snapshot';

/** A bucket's lower bound, short: 512ns, 4µs, 16ms, 2s. */
export function bucketLabel(i: number): string {
  const ns = 2 ** i;
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${Math.floor(ns / 1e3)}µs`;
  if (ns < 1e9) return `${Math.floor(ns / 1e6)}ms`;
  return `${Math.floor(ns / 1e9)}s`;
}

/**
 * One line per bucket from the lowest to the highest filled one; with more
 * buckets than lines, the run of `height` buckets holding the most calls.
 */
export function histogramLines(stat: SyscallStat | undefined, width: number, height: number, bar = '█'): string[] {
  if (!stat || stat.calls === 0) return ['no syscall selected'];
  const b = stat.latLog2;
  let lo = b.findIndex((n) => n > 0);
  if (lo < 0) return [`${stat.name}: no latencies recorded`];
  let hi = b.length - 1;
  while (b[hi] === 0) hi--;
  const rows = Math.max(1, height);
  if (hi - lo + 1 > rows) {
    let best = lo;
    let bestSum = -1;
    for (let s = lo; s + rows - 1 <= hi; s++) {
      const sum = b.slice(s, s + rows).reduce((x, y) => x + y, 0);
      if (sum > bestSum) [best, bestSum] = [s, sum];
    }
    lo = best;
    hi = best + rows - 1;
  }
  const max = Math.max(...b.slice(lo, hi + 1));
  const labelW = Math.max(...Array.from({ length: hi - lo + 1 }, (_, k) => bucketLabel(lo + k).length));
  const counts = b.slice(lo, hi + 1).map(fmtInt);
  const countW = Math.max(...counts.map((c) => c.length));
  const barW = Math.max(1, width - labelW - countW - 4);
  return counts.map((c, k) => {
    const n = b[lo + k];
    const len = n === 0 ? 0 : Math.max(1, Math.round((n / max) * barW));
    return `${bucketLabel(lo + k).padStart(labelW)} │${bar.repeat(len).padEnd(barW)} ${c.padStart(countW)}`;
  });
}
