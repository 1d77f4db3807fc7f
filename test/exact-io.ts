// SPDX-License-Identifier: MIT
// exact-io (test/workloads/exact-io.c) under one or more attached iotraces: what it
// announces, what each iotrace counted, and whether the two agree.
import assert from 'node:assert/strict';
import * as path from 'node:path';

import type { Summary } from '../agent/summary';
import { iotrace, start, summaryOf, WORKLOADS, type Proc } from './harness';

export { summaryOf } from './harness';

export const EXACT_IO = path.join(WORKLOADS, 'exact-io');
const EXIT_MS = 30_000;

/** The backend --backend <b> attaches with on this machine (root, eBPF available). */
export function viaOf(backend: 'ebpf' | 'ptrace' | 'auto'): 'ebpf' | 'ptrace' {
  return backend === 'auto' ? 'ebpf' : backend;
}

/** `iotrace attach <pid> --json --no-ui --backend <b> …`, resolved once it says it is attached. */
export async function attach(pid: number, backend: 'ebpf' | 'ptrace' | 'auto', extra: string[] = []): Promise<Proc> {
  const tracer = iotrace(['attach', String(pid), '--json', '--no-ui', '--backend', backend, ...extra]);
  const m = await tracer.waitFor(/iotrace: attached to pid (\d+) .* via (\w+)/, 20_000);
  assert.equal(Number(m[1]), pid, 'attached to another pid');
  // auto: the eBPF probes load here (root).
  assert.equal(m[2], viaOf(backend), `attached via ${m[2]}, not ${viaOf(backend)}`);
  return tracer;
}

/** The syscalls exact-io announces; setup makes none of them (see test/workloads/exact-io.c). */
export const COUNTED = ['read', 'write', 'pread64', 'sendfile', 'select', 'poll', 'epoll_wait', 'accept4'] as const;
/**
 * What differs from one tracer to another on the same run: the barrier's futex and the
 * sigwaitinfo that a ptrace attach interrupts (and the kernel restarts), getrandom which
 * exact-io does not make after the start. See exactness.test.ts.
 */
export const ATTACH_DEPENDENT = new Set(['futex', 'getrandom', 'rt_sigtimedwait']);

export interface Expectation {
  pid: number;
  [syscall: string]: number;
}

export function expectationIn(text: string): Expectation {
  const m = /^\{"pid":\d+,.*\}$/m.exec(text);
  assert.ok(m, `no exact-io expectation line in:\n${text}`);
  return JSON.parse(m[0]) as Expectation;
}

export type Counts = Record<string, { calls: number; errors: number }>;

export function countsOf(summary: Summary, names?: Iterable<string>, excluded = new Set<string>()): Counts {
  const all = new Map(summary.syscalls.map((s) => [s.name, { calls: s.calls, errors: s.errors }]));
  const out: Counts = {};
  for (const n of [...(names ?? all.keys())].filter((x) => !excluded.has(x)).sort()) out[n] = all.get(n) ?? { calls: 0, errors: 0 };
  return out;
}

export function assertAnnounced(label: string, summary: Summary, expected: Expectation): void {
  const wanted: Counts = {};
  for (const n of COUNTED) wanted[n] = { calls: expected[n], errors: 0 };
  assert.deepEqual(countsOf(summary, COUNTED), wanted, `${label} (actual) differs from exact-io's announcement (expected)`);
}

/**
 * Starts exact-io (T=3 threads, N=200), attaches one iotrace per backend listed, one after
 * the other, awaits attached(target, tracers), lets exact-io start, and returns each summary after
 * exact-io's exit (which ends every iotrace).
 */
export async function exactIoUnder(
  backends: Array<'ebpf' | 'ptrace' | 'auto'>,
  attached: (target: Proc, tracers: Proc[]) => Promise<void> = async () => undefined,
): Promise<{ expected: Expectation; summaries: Summary[] }> {
  const target = start(EXACT_IO, ['--threads', '3', '--iters', '200']);
  const expected = expectationIn((await target.waitFor(/^\{"pid".*\}$/m))[0]);
  assert.equal(expected.pid, target.pid);
  const tracers: Proc[] = [];
  // One after the other: a later one may see an earlier one's tracer (ptrace allows one).
  for (const b of backends) tracers.push(await attach(target.pid, b));
  await attached(target, tracers);
  // exact-io waits in sigwaitinfo for this: the measured phase starts with every tracer in place.
  process.kill(target.pid, 'SIGUSR1');
  const exits = await Promise.all([target.exited(EXIT_MS), ...tracers.map((t) => t.exited(EXIT_MS))]);
  assert.deepEqual(exits[0], { code: 0, signal: null }, `exact-io failed: ${target.stderr()}`);
  tracers.forEach((t, i) => assert.deepEqual(exits[i + 1], { code: 0, signal: null }, `iotrace --backend ${backends[i]} failed:\n${t.stderr()}`));
  const summaries = tracers.map((t) => summaryOf(t));
  summaries.forEach((s, i) => {
    assert.equal(s.backend, viaOf(backends[i]));
    assert.equal(s.endReason, 'target-exit');
  });
  return { expected, summaries };
}
