// SPDX-License-Identifier: MIT
// Percentiles from the backends' log2 latency histograms.

/**
 * The q-quantile (0..1) of a log2 histogram by nearest rank: the rank-th
 * smallest call, placed inside its bucket by its position among that
 * bucket's calls. Bucket i holds [2^i, 2^(i+1)) ns; the highest filled bucket
 * ends at the largest value seen (the last bucket is open-ended, see
 * probes/iotrace.h), so a lone or slowest call is reported as itself. Exact to
 * within the bucket: the precision of bpftrace's hist().
 */
export function quantileNs(latLog2: readonly number[], q: number, maxNs: number): number {
  const total = latLog2.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = Math.min(total, Math.max(1, Math.ceil(q * total)));
  let top = latLog2.length - 1;
  while (top > 0 && latLog2[top] === 0) top--;
  let seen = 0;
  for (let i = 0; i <= top; i++) {
    const n = latLog2[i];
    if (n === 0) continue;
    if (seen + n >= rank) {
      const lo = i === 0 ? 0 : 2 ** i;
      const hi = i === top ? Math.max(lo, Math.min(maxNs, i === latLog2.length - 1 ? maxNs : 2 ** (i + 1))) : 2 ** (i + 1);
      // The k-th of n calls in [lo, hi) sits at lo + k/n of the way, short of
      // hi unless this bucket is the top one, whose end is a real value.
      const frac = (rank - seen) / n;
      const v = lo + frac * (hi - lo);
      return Math.round(i === top ? v : Math.min(v, hi - 1));
    }
    seen += n;
  }
  return maxNs;
}
