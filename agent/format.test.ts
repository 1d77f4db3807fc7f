// SPDX-License-Identifier: MIT
// The text summary's io_uring requests table: shown, and carried in --json,
// only when the backend saw the requests (eBPF), never under ptrace.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { formatSummary } from './format';
import type { SessionHeader } from './recording-schema';
import type { Snapshot, UringOpStat } from './snapshot';
import { summarize } from './summary';

const header: SessionHeader = {
  type: 'header', schema: 'iotrace.recording/1', iotraceVersion: '0.0.0', backend: 'ebpf', mode: 'attach', seccomp: false,
  target: { pid: 100, comm: 'srv', cmdline: 'srv', exe: '/srv' },
  host: { hostname: 'h', kernel: '6.18', arch: 'x86_64', cpus: 1 },
  startTime: '2026-11-23T00:00:00.000Z', intervalMs: 1000,
};

/** 1,000 requests of about 1 µs (bucket 9) and 20 (2%) of about 1 ms (bucket 19). */
function op(opcode: number, name: string, bytes: number): UringOpStat {
  const latLog2 = new Array<number>(32).fill(0);
  latLog2[9] = 1000;
  latLog2[19] = 20;
  return { opcode, name, submitted: 1020, completions: 1020, errors: 0, eagain: 0, bytes, totalNs: 1000 * 1e3 + 20 * 1e6, maxNs: 1e6, latLog2 };
}

function snapshot(uringOps?: UringOpStat[]): Snapshot {
  return {
    tNs: 1e9, tracees: 1, syscalls: [], fds: [], threads: [], processes: [],
    counters: { clones: 0, forks: 0, execs: 0, threadExits: 0, signals: 0, groupStops: 0, unmatchedExits: 0, foreignArch: 0, unknownNr: 0, fdOverflow: 0, threadOverflow: 0, processOverflow: 0 },
    ...(uringOps ? { uringOps } : {}),
  };
}

const summary = (s: Snapshot): ReturnType<typeof summarize> => summarize({ header, snapshot: s, endReason: 'duration', exit: null, warnings: [] });

describe('formatSummary: io_uring requests', () => {
  it('lists each opcode with its counts, bytes and submission-to-completion latency percentiles', () => {
    const s = summary(snapshot([op(26, 'send', 65_536), op(27, 'recv', 1_048_576)]));
    assert.deepEqual(s.uringOps?.map((o) => o.name), ['send', 'recv'], 'equal submissions: by opcode');
    const recv = s.uringOps![1];
    assert.equal(recv.avgNs, Math.round(21e6 / 1020));
    assert.ok(recv.p50Ns >= 512 && recv.p50Ns < 1024, String(recv.p50Ns));
    assert.ok(recv.p99Ns >= 524_288 && recv.p99Ns <= 1e6, String(recv.p99Ns));
    const text = formatSummary(s);
    assert.match(text, /^2,040 io_uring requests \(2,040\/s\), 0 errors; copied in 1.00 MiB, out 64.0 KiB, zero-copy 0 B$/m);
    assert.match(text, /io_uring requests \(latency: submission to completion\):\nopcode +submitted +completions +errors +EAGAIN +avg +p50 +p99 +max +bytes\n/);
    assert.match(text, /^recv +1,020 +1,020 +20\.6 µs +\S+ ns +\S+ µs +1\.00 ms +1\.00 MiB$/m);
  });

  it('has no table and no uringOps under ptrace, which cannot see the requests', () => {
    const s = summary(snapshot());
    assert.equal('uringOps' in s, false);
    assert.doesNotMatch(formatSummary(s), /io_uring requests/);
  });

  it('prints nothing for a process that used no ring under eBPF, while --json says none was seen', () => {
    const s = summary(snapshot([]));
    assert.deepEqual(s.uringOps, []);
    assert.doesNotMatch(formatSummary(s), /io_uring requests/);
  });
});
