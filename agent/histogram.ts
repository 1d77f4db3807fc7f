// SPDX-License-Identifier: MIT
// Percentiles from the backends' log2 latency histograms.

/**
 * The q-quantile (0..1) of a log2 histogram, interpolated linearly inside the
 * bucket that holds it and capped by the largest value seen. Bucket i holds
 * [2^i, 2^(i+1)) ns, so the answer is exact to within that bucket: the same
 * precision bpftrace's hist() gives.
 */
export function quantileNs(latLog2: readonly number[], q: number, maxNs: number): number {
  const total = latLog2.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < latLog2.length; i++) {
    const n = latLog2[i];
    if (n === 0) continue;
    if (seen + n >= rank) {
      const lo = i === 0 ? 0 : 2 ** i;
      const hi = 2 ** (i + 1);
      const v = lo + ((rank - seen) / n) * (hi - lo);
      return Math.min(Math.round(v), maxNs);
    }
    seen += n;
  }
  return maxNs;
}
