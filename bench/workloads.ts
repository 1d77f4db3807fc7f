// SPDX-License-Identifier: MIT
// What the benchmark measures: real servers on 127.0.0.1 under bounded load,
// and dd's syscall-tight loop. Each measurement runs with one tracer attached
// (or none) and returns the throughput the load generator (or dd) saw.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { redisBenchmark, startNginx, startRedis, wrk } from '../test/real-servers';
import { Background, ROOT, run, sleep } from './proc';
import type { AttachTracer, Usage } from './tracers';

export interface Measurement {
  value: number;
  usage: Usage | null;
}

export interface Workload {
  name: string;
  title: string;
  unit: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One run under tracer (null: untraced). */
  measure(tracer: AttachTracer | null): Promise<Measurement>;
}

/** Attaches tracer to pids, runs load, stops the tracer. */
async function underTracer(tracer: AttachTracer | null, pids: number[], load: (slow: boolean) => Promise<number>): Promise<Measurement> {
  if (!tracer) return { value: await load(false), usage: null };
  const t = await tracer.attach(pids);
  try {
    const value = await load(tracer.slow);
    return { value, usage: await t.stop() };
  } catch (err) {
    await t.stop('SIGKILL');
    throw err;
  }
}

const LOAD_SEC = 3;
const CONNECTIONS = 16;

export function labEpoll(): Workload {
  let server: Background | undefined;
  let port = 0;
  return {
    name: 'lab-epoll',
    title: `lab epoll-et server under the lab load (${CONNECTIONS} connections, ${LOAD_SEC} s)`,
    unit: 'req/s',
    async start() {
      server = new Background(path.join(ROOT, 'native', 'lab', 'bin', 'epoll-et'), ['--port', '0']);
      await server.waitFor(/port=\d+/, 5000, 'the lab epoll-et server');
      port = Number(/port=(\d+)/.exec(server.out + server.err)?.[1]);
    },
    async stop() {
      await server?.stop('SIGTERM');
    },
    measure(tracer) {
      const pid = server?.child.pid ?? 0;
      return underTracer(tracer, [pid], async () => {
        const out = run(path.join(ROOT, 'native', 'lab', 'bin', 'load'), ['--target', `127.0.0.1:${port}`, '--connections', String(CONNECTIONS), '--duration', String(LOAD_SEC)]).stdout;
        const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { requestsPerSec?: number; errors?: Record<string, number> };
        if (Object.values(r.errors ?? {}).some((n) => n > 0)) throw new Error(`lab load errors: ${out}`);
        return r.requestsPerSec ?? 0;
      });
    },
  };
}

export function nginx(): Workload {
  let server: Awaited<ReturnType<typeof startNginx>> | undefined;
  return {
    name: 'nginx',
    title: `nginx 1 worker, sendfile on, 4 KiB file, wrk (${CONNECTIONS} connections, ${LOAD_SEC} s)`,
    unit: 'req/s',
    async start() {
      server = await startNginx({ workers: 1, sendfile: true });
    },
    async stop() {
      await server?.stop();
    },
    measure(tracer) {
      if (!server) throw new Error('nginx is not started');
      const s = server;
      return underTracer(tracer, [s.masterPid, ...s.workerPids], async () => {
        const r = await wrk(s.port, '/4k.bin', LOAD_SEC, CONNECTIONS);
        if (r.errors > 0) throw new Error(`wrk errors:\n${r.raw}`);
        return r.requestsPerSec;
      });
    },
  };
}

export function redis(): Workload {
  let server: Awaited<ReturnType<typeof startRedis>> | undefined;
  return {
    name: 'redis',
    title: `redis-server, redis-benchmark SET and GET (${CONNECTIONS} connections)`,
    unit: 'req/s',
    async start() {
      server = await startRedis();
    },
    async stop() {
      await server?.stop();
    },
    measure(tracer) {
      if (!server) throw new Error('redis is not started');
      const s = server;
      return underTracer(tracer, [s.pid], async (slow) => {
        // Bounded by count: about 1 s untraced, a few seconds under a slow tracer.
        const n = slow ? 10_000 : 100_000;
        const r = await redisBenchmark(s.port, n, CONNECTIONS, 120_000);
        const set = r.rps['SET'] ?? 0;
        const get = r.rps['GET'] ?? 0;
        // Both runs' requests over both runs' time.
        return set && get ? 2 / (1 / set + 1 / get) : 0;
      });
    },
  };
}

/** dd's own records/s, from the time it reports. */
function ddRate(stderr: string, count: number): number {
  const m = /copied, ([\d.]+) s,/.exec(stderr);
  if (!m) throw new Error(`no dd timing in: ${stderr}`);
  return count / Number(m[1]);
}

const DD_FAST = 2_000_000;
const DD_SLOW = 50_000;
const ddArgs = (count: number): string[] => ['if=/dev/zero', 'of=/dev/null', 'bs=512', `count=${count}`];

export function dd(): Workload {
  let dir = '';
  return {
    name: 'dd',
    title: 'dd if=/dev/zero of=/dev/null bs=512 (syscall-tight), records/s from dd',
    unit: 'records/s',
    async start() {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-bench-dd-'));
    },
    async stop() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async measure(tracer) {
      const count = tracer?.slow || tracer?.name === 'perf' ? DD_SLOW : DD_FAST;
      // dd waits on a fifo until the tracer is there; sh execs it, keeping the pid.
      const fifo = path.join(dir, 'go');
      fs.rmSync(fifo, { force: true });
      run('mkfifo', [fifo]);
      const target = new Background('sh', ['-c', `read x < ${fifo}; exec dd ${ddArgs(count).join(' ')}`]);
      const pid = target.child.pid ?? 0;
      await sleep(50);
      return underTracer(tracer, [pid], async () => {
        fs.writeFileSync(fifo, 'go\n');
        await target.exited();
        return ddRate(target.err, count);
      });
    },
  };
}

/** dd started under a tracer's own run mode, as its users would: `tracer -- dd …`. */
export interface RunTracer {
  name: string;
  label: string;
  slow: boolean;
  missing(): string | null;
  command(dd: string[]): string[];
}

export const RUN_TRACERS: readonly RunTracer[] = [
  {
    name: 'iotrace-run-seccomp',
    label: 'iotrace run --backend ptrace (seccomp)',
    slow: true,
    missing: () => null,
    command: (c) => [process.execPath, path.join(ROOT, 'bin', 'iotrace'), 'run', '--backend', 'ptrace', '--no-ui', '--', ...c],
  },
  {
    name: 'iotrace-run-ebpf',
    label: 'iotrace run --backend ebpf',
    slow: false,
    missing: () => null,
    command: (c) => [process.execPath, path.join(ROOT, 'bin', 'iotrace'), 'run', '--backend', 'ebpf', '--no-ui', '--', ...c],
  },
  {
    name: 'strace-seccomp',
    label: 'strace -f -c --seccomp-bpf',
    slow: true,
    missing: () => null,
    command: (c) => ['strace', '-f', '-c', '--seccomp-bpf', '-o', '/dev/null', ...c],
  },
];

/** dd under a run-mode tracer, with the tracer's CPU and RSS. */
export async function ddUnderRun(t: RunTracer): Promise<Measurement> {
  const count = t.slow ? DD_SLOW : DD_FAST;
  const [cmd, ...args] = t.command(['dd', ...ddArgs(count)]);
  const p = new Background(cmd ?? '', args, { timed: true });
  await p.exited();
  const usage = await p.stop();
  return { value: ddRate(p.err, count), usage };
}
