// SPDX-License-Identifier: MIT
// The view model's pure parts: tables that fit, histogram buckets, sorting,
// layouts for small terminals, keys.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { actionFor } from './keys';
import { layoutFor } from './layout';
import { bucketLabel, histogramLines } from './model/histogram';
import { nextSort, syscallRows, syscallTable } from './model/syscalls';
import type { Snapshot, SyscallStat } from '../agent/snapshot';

function sys(name: string, nr: number, calls: number, extra: Partial<SyscallStat> = {}): SyscallStat {
  const latLog2 = new Array<number>(32).fill(0);
  latLog2[10] = calls;
  return { nr, name, cls: 'data.read', calls, errors: 0, eagain: 0, errnos: {}, totalNs: calls * 1024, maxNs: 2047, bytes: 0, ready: 0, watched: 0, maxWatched: 0, eagainSpin: 0, latLog2, ...extra };
}

function snap(tNs: number, syscalls: SyscallStat[]): Snapshot {
  const counters = { clones: 0, forks: 0, execs: 0, threadExits: 0, signals: 0, groupStops: 0, unmatchedExits: 0, foreignArch: 0, unknownNr: 0, fdOverflow: 0, threadOverflow: 0, processOverflow: 0 };
  return { tNs, tracees: 1, syscalls, fds: [], threads: [], processes: [], counters };
}

describe('dashboard model', () => {
  it('rates come from two snapshots; sorting by rate and by calls differ; EAGAIN is not an error', () => {
    const prev = snap(1e9, [sys('read', 0, 100), sys('write', 1, 1000)]);
    const cur = snap(2e9, [sys('read', 0, 600, { errors: 5, eagain: 3 }), sys('write', 1, 1100)]);
    const byRate = syscallRows(prev, cur, 'rate');
    assert.deepEqual(byRate.map((r) => [r.name, r.ratePerSec]), [['read', 500], ['write', 100]]);
    assert.deepEqual(syscallRows(prev, cur, 'calls').map((r) => r.name), ['write', 'read']);
    assert.equal(byRate[0].errors, 2);
    assert.equal(byRate[0].eagain, 3);
    assert.equal(nextSort('name'), 'rate');
  });

  it('the table fits its width by dropping columns, and marks the selection', () => {
    const rows = syscallRows(undefined, snap(1e9, [sys('epoll_wait', 232, 12345, { bytes: 1 << 20 })]), 'rate');
    const wide = syscallTable(rows, 'epoll_wait', 100);
    assert.match(wide[0], /bytes/);
    assert.match(wide[1], /^›epoll_wait/);
    const narrow = syscallTable(rows, 'epoll_wait', 30);
    for (const l of narrow) assert.ok(l.length <= 30, l);
    assert.match(narrow[0], /rate\/s/);
    assert.doesNotMatch(narrow[0], /bytes/);
  });

  it('the histogram shows the filled log2 buckets', () => {
    const s = sys('read', 0, 10);
    s.latLog2[12] = 5;
    const lines = histogramLines(s, 40, 10);
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^1µs │█+ +10$/);
    assert.match(lines[2], /^4µs │█+ +5$/);
    assert.equal(bucketLabel(20), '1ms');
  });

  it('below 80×24 only header, verdict and syscalls are laid out, within the screen', () => {
    assert.deepEqual(layoutFor(70, 20).places.map((p) => p.id), ['header', 'verdict', 'syscalls']);
    const full = layoutFor(120, 40);
    assert.equal(full.places.length, 8);
    for (const p of full.places) assert.ok(p.left + p.width <= 120 && p.top + p.height <= 40, p.id);
  });

  it('keys depend on the mode', () => {
    assert.equal(actionFor('C-c', 'live'), 'quit');
    assert.equal(actionFor('r', 'live'), 'record');
    assert.equal(actionFor('r', 'replay'), undefined);
    assert.equal(actionFor('space', 'replay'), 'play');
  });
});
