// SPDX-License-Identifier: MIT
// The metric families on known snapshots: exact histogram buckets, bytes as the summary splits them, errnos, ages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { SessionHeader } from '../recording-schema';
import type { Snapshot, SyscallStat } from '../snapshot';
import { FAMILIES, LE_EXPONENTS, type TargetState } from './prometheus-metrics';

function syscall(over: Partial<SyscallStat>): SyscallStat {
  return {
    nr: 0, name: 'read', cls: 'data.read', calls: 0, errors: 0, eagain: 0, errnos: {}, totalNs: 0, maxNs: 0,
    bytes: 0, ready: 0, watched: 0, maxWatched: 0, eagainSpin: 0, latLog2: new Array<number>(32).fill(0), ...over,
  };
}

function target(syscalls: SyscallStat[]): TargetState {
  const header = { backend: 'ebpf', backendReason: '--backend ebpf', target: { pid: 42, comm: 'srv', cmdline: 'srv', exe: '/srv' } } as SessionHeader;
  const snapshot = { tNs: 2e9, tracees: 1, syscalls, fds: [], threads: [], processes: [], counters: {} } as unknown as Snapshot;
  return { header, snapshot, atMs: 1000, traced: true };
}

const family = (name: string) => FAMILIES.find((f) => f.name === name)!;

describe('prometheus metric families', () => {
  it('turns log2 buckets into cumulative le buckets in seconds, +Inf and _count the calls', () => {
    const lat = new Array<number>(32).fill(0);
    lat[3] = 2; // 8..15 ns: under the first bound, 256 ns
    lat[9] = 5; // 512..1023 ns: le 1.024e-6
    lat[31] = 1; // open-ended: only +Inf
    const t = target([syscall({ calls: 8, totalNs: 3e9, latLog2: lat })]);
    const s = family('iotrace_syscall_duration_seconds').samples(t, 0);
    const bucket = (le: string) => s.find((x) => x.metricName?.endsWith('_bucket') && x.labels.le === le)?.value;
    assert.equal(bucket(String(2 ** 8 / 1e9)), 2);
    assert.equal(bucket(String(2 ** 9 / 1e9)), 2);
    assert.equal(bucket(String(2 ** 10 / 1e9)), 7);
    assert.equal(bucket(String(2 ** 31 / 1e9)), 7);
    assert.equal(bucket('+Inf'), 8);
    assert.equal(s.filter((x) => x.metricName?.endsWith('_bucket')).length, LE_EXPONENTS.length + 1);
    assert.deepEqual(s.find((x) => x.metricName?.endsWith('_sum'))?.value, 3);
    assert.deepEqual(s.find((x) => x.metricName?.endsWith('_count'))?.value, 8);
    assert.deepEqual(s[0].labels, { pid: '42', comm: 'srv', syscall: 'read', class: 'data.read', le: String(2 ** 8 / 1e9) });
  });

  it('splits bytes by direction and path as the summary does', () => {
    const t = target([
      syscall({ name: 'read', cls: 'data.read', calls: 1, bytes: 10 }),
      syscall({ name: 'write', cls: 'data.write', calls: 1, bytes: 20 }),
      syscall({ name: 'sendfile', cls: 'data.sendfile', calls: 1, bytes: 30 }),
    ]);
    const s = family('iotrace_bytes_total').samples(t, 0);
    assert.deepEqual(s.map((x) => [x.labels.direction, x.labels.path, x.value]), [['in', 'copy', 10], ['out', 'copy', 20], ['out', 'zero_copy', 30]]);
  });

  it('counts errors by errno and ages the snapshot', () => {
    const t = target([syscall({ calls: 3, errors: 2, errnos: { EAGAIN: 2 } })]);
    assert.deepEqual(family('iotrace_syscall_errors_total').samples(t, 0).map((x) => [x.labels.errno, x.value]), [['EAGAIN', 2]]);
    assert.deepEqual(family('iotrace_snapshot_lag_seconds').samples(t, 3500).map((x) => x.value), [2.5]);
    assert.deepEqual(family('iotrace_target_traced').samples({ ...t, traced: false }, 0).map((x) => x.value), [0]);
  });
});
