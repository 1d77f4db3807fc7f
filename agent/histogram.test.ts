// SPDX-License-Identifier: MIT
// quantileNs on log2 histograms whose answer is known: bucket i holds [2^i, 2^(i+1)) ns.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { quantileNs } from './histogram';

/** A histogram with buckets[i] calls in bucket i, 32 buckets long like the native one (probes/iotrace.h). */
function hist(buckets: Record<number, number>): number[] {
  const h = new Array<number>(32).fill(0);
  for (const [i, n] of Object.entries(buckets)) h[Number(i)] = n;
  return h;
}

function assertInBucket(v: number, i: number, what: string): void {
  assert.ok(v >= 2 ** i && v < 2 ** (i + 1), `${what} = ${v} is not in bucket ${i} [${2 ** i}, ${2 ** (i + 1)})`);
}

describe('quantileNs', () => {
  it('treats the last bucket as open-ended: one 5 s call has p50 = p99 = its latency', () => {
    // Bucket 31 holds everything from 2^31 ns (~2.1 s) up (probes/iotrace.h).
    const maxNs = 5_000_000_000;
    assert.equal(quantileNs(hist({ 31: 1 }), 0.5, maxNs), maxNs);
    assert.equal(quantileNs(hist({ 31: 1 }), 0.99, maxNs), maxNs);
    const p50 = quantileNs(hist({ 31: 2 }), 0.5, maxNs);
    assert.ok(p50 >= 2 ** 31 && p50 <= maxNs, `p50 ${p50} outside [2^31, max]`);
  });

  it('is 0 for an empty histogram, whatever the quantile', () => {
    for (const q of [0, 0.5, 0.99, 1]) {
      assert.equal(quantileNs([], q, 0), 0);
      assert.equal(quantileNs(hist({}), q, 0), 0);
    }
  });

  it('puts every quantile of a one-bucket histogram inside that bucket, and never above maxNs', () => {
    // 1000 calls between 1024 and 2047 ns, the slowest 1900 ns.
    const h = hist({ 10: 1000 });
    for (const q of [0.01, 0.5, 0.9, 0.99, 1]) {
      const v = quantileNs(h, q, 1900);
      assertInBucket(v, 10, `q${q}`);
      assert.ok(v <= 1900, `q${q} = ${v} exceeds maxNs 1900`);
    }
    // Linear inside the bucket: the median is its middle.
    assert.equal(quantileNs(h, 0.5, 2047), 1536);
    assert.ok(quantileNs(h, 0.5, 1900) < quantileNs(h, 0.99, 1900));
  });

  it('caps a single call at its own latency', () => {
    // One call of 1500 ns: bucket 10; the interpolated middle (1536) is above what was seen.
    assert.equal(quantileNs(hist({ 10: 1 }), 0.5, 1500), 1500);
    assert.equal(quantileNs(hist({ 10: 1 }), 0.99, 1500), 1500);
  });

  it('puts p50 in the fast bucket and p99 in the slow one of a 90/10 histogram', () => {
    // 90 calls of 16..31 ns (bucket 4), 10 calls of about 1 ms (bucket 20); slowest 1.5 ms.
    const h = hist({ 4: 90, 20: 10 });
    const p50 = quantileNs(h, 0.5, 1_500_000);
    const p99 = quantileNs(h, 0.99, 1_500_000);
    assertInBucket(p50, 4, 'p50');
    assertInBucket(p99, 20, 'p99');
    assert.ok(p99 <= 1_500_000);
    // rank 50 of 90 in [16, 32): 16 + 50/90 * 16.
    assert.equal(p50, Math.round(16 + (50 / 90) * 16));
  });

  it('puts p50 in the slow bucket when most calls are slow', () => {
    const h = hist({ 4: 10, 20: 90 });
    assertInBucket(quantileNs(h, 0.5, 2 ** 21), 20, 'p50');
    assertInBucket(quantileNs(h, 0.05, 2 ** 21), 4, 'p5');
  });

  it('skips empty buckets between two filled ones', () => {
    const h = hist({ 3: 50, 30: 50 });
    assertInBucket(quantileNs(h, 0.25, 2 ** 31), 3, 'p25');
    assertInBucket(quantileNs(h, 0.75, 2 ** 31), 30, 'p75');
  });
});
