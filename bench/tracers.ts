// SPDX-License-Identifier: MIT
// The tracers the benchmark attaches to a running target, each the way its
// users run it for a per-syscall count, and iotrace's two backends.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Background, has, ROOT, sleep } from './proc';

export interface Usage {
  cpuSec: number;
  maxRssKiB: number;
}

export interface AttachTracer {
  name: string;
  label: string;
  /** Stops the target twice per syscall: give it the small workload. */
  slow: boolean;
  /** Why it cannot run here, or null. */
  missing(): string | null;
  /** Attached to pids (the first is the one iotrace attaches to, with --children when there are more). */
  attach(pids: number[]): Promise<Background>;
}

function tracerPidOf(pid: number): number {
  try {
    return Number(/^TracerPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function until(what: string, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

function iotrace(backend: 'ebpf' | 'ptrace'): AttachTracer {
  return {
    name: `iotrace-${backend}`,
    label: `iotrace --backend ${backend}`,
    slow: backend === 'ptrace',
    missing: () => (fs.existsSync(path.join(ROOT, 'build', 'Release', 'iotrace.node')) ? null : 'iotrace is not built (npm run build)'),
    async attach(pids) {
      const args = [path.join(ROOT, 'bin', 'iotrace'), 'attach', String(pids[0]), '--backend', backend, '--no-ui'];
      if (pids.length > 1) args.push('--children');
      const t = new Background(process.execPath, args, { timed: true });
      await t.waitFor(/iotrace: attached to pid/, 20_000, `iotrace --backend ${backend}`);
      return t;
    },
  };
}

const strace: AttachTracer = {
  name: 'strace',
  label: 'strace -f -c -p',
  slow: true,
  missing: () => (has('strace') ? null : 'strace is not installed'),
  async attach(pids) {
    // -f follows new children only: every existing process is named.
    const t = new Background('strace', ['-f', '-c', '-o', '/dev/null', ...pids.flatMap((p) => ['-p', String(p)])], { timed: true });
    await until('strace attached', () => pids.every((p) => tracerPidOf(p) !== 0));
    return t;
  },
};

const perf: AttachTracer = {
  name: 'perf',
  label: 'perf trace -s -p',
  slow: true,
  missing: () => (has('perf') ? null : 'perf is not installed (Debian package linux-perf)'),
  async attach(pids) {
    const t = new Background('perf', ['trace', '-s', '-o', '/dev/null', '-p', pids.join(',')], { timed: true });
    // perf says nothing once it is attached: give it the time it takes here (~0.5 s).
    await sleep(1500);
    if (t.child.exitCode !== null) throw new Error(`perf trace ended: ${t.err}`);
    return t;
  },
};

/**
 * What iotrace's eBPF backend does, written as a bpftrace user would: a count
 * and a log2 latency histogram per syscall for the target's processes.
 */
function bpftraceScript(pids: number[]): string {
  const filter = pids.map((p) => `pid == ${p}`).join(' || ');
  return `tracepoint:raw_syscalls:sys_enter /${filter}/ { @start[tid] = nsecs; @calls[args->id] = count(); }
tracepoint:raw_syscalls:sys_exit /(${filter}) && @start[tid]/ { @ns[args->id] = hist(nsecs - @start[tid]); delete(@start[tid]); }`;
}

const bpftrace: AttachTracer = {
  name: 'bpftrace',
  label: 'bpftrace count + histogram',
  slow: false,
  missing: () => (has('bpftrace') ? null : 'bpftrace is not installed'),
  async attach(pids) {
    // Its maps, printed at the end, come to our buffer with the 'Attaching' line.
    const t = new Background('bpftrace', ['-e', bpftraceScript(pids)], { timed: true });
    await t.waitFor(/Attaching \d+ probes/, 20_000, 'bpftrace');
    await sleep(300);
    return t;
  },
};

export const ATTACH_TRACERS: readonly AttachTracer[] = [iotrace('ebpf'), iotrace('ptrace'), strace, perf, bpftrace];
