// SPDX-License-Identifier: MIT
// Real Debian servers, nginx and redis-server, under real load (wrk,
// redis-benchmark), traced by `iotrace attach`: what their syscalls must show
// (facts of their code and this config, checked first, in their own tests),
// that iotrace leaves them running untouched, and what the classifier must
// name (separate tests: a failure says which side is wrong).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';

import { iotrace, killAll, sleep, statusField, type Proc } from './harness';
import {
  httpGet,
  missingBinaries,
  NGINX_FILES,
  redisBenchmark,
  redisPing,
  startNginx,
  startRedis,
  stopAllServers,
  wrk,
  type RedisBenchResult,
  type WrkResult,
} from './real-servers';

type WaitLabel = 'blocking' | 'busy-poll' | 'select' | 'poll' | 'epoll' | 'signal-driven' | 'io_uring' | 'linux-aio';
type TriggerLabel = 'level' | 'edge' | 'mixed';
type DataLabel = 'copy' | 'sendfile' | 'splice' | 'mmap' | 'copy_file_range' | 'msg_zerocopy';
type ConcurrencyLabel = 'single-thread' | 'event-loops' | 'thread-per-connection' | 'process-per-connection' | 'thread-pool';

interface Expected {
  wait: WaitLabel;
  epollTrigger: TriggerLabel;
  data: DataLabel;
  concurrency: ConcurrencyLabel;
}

// What the classifier must say: worked out from the code and config of the
// versions Debian 12 ships (nginx 1.22.1, redis 7.0.15), not from iotrace.
// - wait epoll: both run an epoll event loop (ngx_epoll_module is nginx's default
//   event method on Linux; redis's ae.c picks ae_epoll.c on Linux).
// - nginx trigger edge: ngx_handle_read_event adds each accepted connection with
//   NGX_CLEAR_EVENT, which ngx_epoll_module maps to EPOLLET (strace on this
//   build: epoll_ctl(ADD, EPOLLIN|EPOLLRDHUP|EPOLLET)); the level-triggered ones,
//   listen socket and master channel, are added at startup, before the attach.
// - redis trigger level: ae_epoll.c's aeApiAddEvent sets only EPOLLIN/EPOLLOUT, never EPOLLET.
// - nginx data sendfile: `sendfile on` makes ngx_linux_sendfile_chain send file
//   bodies with sendfile(2); only the ~260-byte headers go through writev.
// - nginx data copy with `sendfile off`: the body is read into output_buffers
//   with pread64 (ngx_read_file) and sent with writev.
// - redis data copy: connSocketRead/connSocketWrite are read(2)/write(2).
// - nginx concurrency: each worker is one single-threaded event loop (no
//   thread pool: that needs `aio threads`); the master only waits in
//   rt_sigsuspend. 1 worker = one loop, 2 workers = N event loops.
// - redis concurrency single-thread: one thread runs the event loop and all
//   client I/O (io-threads defaults to 1); its bio threads and jemalloc's
//   background thread only sleep in futex.
const EXPECTED: Record<string, Expected> = {
  'nginx sendfile on, 1 worker': { wait: 'epoll', epollTrigger: 'edge', data: 'sendfile', concurrency: 'single-thread' },
  'nginx sendfile on, 2 workers': { wait: 'epoll', epollTrigger: 'edge', data: 'sendfile', concurrency: 'event-loops' },
  'nginx sendfile off, 1 worker': { wait: 'epoll', epollTrigger: 'edge', data: 'copy', concurrency: 'single-thread' },
  redis: { wait: 'epoll', epollTrigger: 'level', data: 'copy', concurrency: 'single-thread' },
};

/** iotrace's trace length; the load (about 2 s) runs inside it. */
const TRACE_SEC = 4;
/** wrk per file: one run on each of NGINX_FILES. */
const WRK_SEC = 1;
const CONNECTIONS = 8;
/** redis-benchmark -n: SETs, then as many GETs. */
const REDIS_REQUESTS = 3000;

/** The parts of iotrace's JSON summary these tests read. */
interface SummaryLike {
  endReason: string;
  syscalls: Array<{ name: string; calls: number; errors: number; bytes: number }>;
  threads: Array<{ pid: number; tid: number; calls: number; bytesIn: number; bytesOut: number }>;
  processes: Array<{ pid: number }>;
  classification?: {
    wait: Array<{ label: string; share: number }>;
    epollTrigger: { label: string } | null;
    data: Array<{ label: string; share: number }>;
    concurrency: Array<{ label: string }>;
  };
}

interface Traced {
  summary: SummaryLike;
  stderr: string;
  /** Every pid traced (master and workers, or the redis pid). */
  pids: number[];
  /** Whether the load ended before iotrace did (so all of it was traced). */
  loadInsideTrace: boolean;
}

function calls(s: SummaryLike, name: string): number {
  return s.syscalls.find((x) => x.name === name)?.calls ?? 0;
}
function bytes(s: SummaryLike, name: string): number {
  return s.syscalls.find((x) => x.name === name)?.bytes ?? 0;
}
function okCalls(s: SummaryLike, name: string): number {
  const x = s.syscalls.find((y) => y.name === name);
  return x ? x.calls - x.errors : 0;
}

/** Every thread of pid has TracerPid non-zero. */
function traced(pid: number): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).every((tid) => {
      const m = /^TracerPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      return m !== null && m[1] !== '0';
    });
  } catch {
    return false;
  }
}

/** Every thread of pid is alive, not stopped (T/t) and has TracerPid 0. */
function assertThreadsUntraced(pid: number): void {
  const state = statusField(pid, 'State');
  assert.ok(state !== undefined, `pid ${pid} is gone`);
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const st = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    const s = /^State:\s*(.*)$/m.exec(st)?.[1] ?? '?';
    const tracer = /^TracerPid:\s*(\d+)/m.exec(st)?.[1];
    assert.doesNotMatch(s, /^[tTZX]/, `pid ${pid} thread ${tid} is in state ${s} after iotrace ended`);
    assert.equal(tracer, '0', `pid ${pid} thread ${tid} still has TracerPid ${tracer} after iotrace ended`);
  }
}

/** Each server is traced by each backend in turn. */
const BACKENDS = ['ebpf', 'ptrace'] as const;
type BackendName = (typeof BACKENDS)[number];

/**
 * Attaches iotrace to pid (with --children when asked), waits until every
 * thread of every pid is traced, runs the load, and lets iotrace end by its
 * --duration.
 */
async function traceUnderLoad(backend: BackendName, pid: number, allPids: number[], children: boolean, load: () => Promise<void>): Promise<Traced> {
  const args = ['attach', String(pid), '--backend', backend, ...(children ? ['--children'] : []), '--duration', String(TRACE_SEC), '--json', '--no-ui'];
  const tracer: Proc = iotrace(args);
  await tracer.waitFor(new RegExp(`iotrace: attached to pid \\d+ .* via ${backend}`), 15000);
  // The line comes once the attach is done; under ptrace TracerPid of every
  // thread says so too (eBPF leaves no trace in /proc).
  const deadline = Date.now() + 10000;
  while (backend === 'ptrace' && !allPids.every(traced)) {
    assert.ok(Date.now() < deadline, `not every thread of ${allPids.join(', ')} is traced 10 s after "attached":\n${tracer.stderr()}`);
    await sleep(10);
  }
  let tracerDone = false;
  const exit = tracer.exited((TRACE_SEC + 30) * 1000).then((e) => ((tracerDone = true), e));
  await load();
  const loadInsideTrace = !tracerDone;
  const e = await exit;
  assert.deepEqual(e, { code: 0, signal: null }, `iotrace ${args.join(' ')} failed:\n${tracer.stderr()}`);
  let summary: SummaryLike;
  try {
    summary = JSON.parse(tracer.stdout()) as SummaryLike;
  } catch (err) {
    throw new Error(`iotrace --json printed no JSON document (${String(err)})\nstdout: ${tracer.stdout().slice(0, 2000)}\nstderr: ${tracer.stderr()}`);
  }
  return { summary, stderr: tracer.stderr(), pids: allPids, loadInsideTrace };
}

/** The key figures, for the CI log. */
function diagnoseCounts(t: { diagnostic(m: string): void }, s: SummaryLike): void {
  const names = ['epoll_wait', 'epoll_ctl', 'accept4', 'recvfrom', 'read', 'pread64', 'write', 'writev', 'sendfile', 'setsockopt', 'openat', 'close', 'futex'];
  t.diagnostic(
    names
      .filter((n) => calls(s, n) > 0)
      .map((n) => `${n}=${calls(s, n)}${bytes(s, n) ? ` (${bytes(s, n)} B)` : ''}`)
      .join(' '),
  );
}

/** The classification assertions, shared by every server. */
function assertClassification(s: SummaryLike, exp: Expected, t: { diagnostic(m: string): void }): void {
  const c = s.classification;
  assert.ok(c, 'the summary has no "classification" (the classifier has not landed yet)');
  const pct = (x: { share: number }): string => `${(100 * x.share).toFixed(1)}%`;
  const ev = (x: unknown): string => {
    const e = (x as { evidence?: string[] } | null)?.evidence;
    return e?.length ? ` [${e.join('; ')}]` : '';
  };
  t.diagnostic(`classification wait: ${c.wait.map((x) => `${x.label} ${pct(x)}${ev(x)}`).join(', ')}`);
  t.diagnostic(`classification epollTrigger: ${c.epollTrigger ? `${c.epollTrigger.label}${ev(c.epollTrigger)}` : 'null'}`);
  t.diagnostic(`classification data: ${c.data.map((x) => `${x.label} ${pct(x)}${ev(x)}`).join(', ')}`);
  t.diagnostic(`classification concurrency: ${c.concurrency.map((x) => `${x.label}${ev(x)}`).join(', ')}`);
  for (const key of ['wait', 'data'] as const) {
    assert.ok(Array.isArray(c[key]) && c[key].length > 0, `classification.${key} is empty`);
    const shares: number[] = c[key].map((x: { share: number }) => x.share);
    assert.deepEqual(shares, [...shares].sort((a, b) => b - a), `classification.${key} is not largest share first`);
  }
  assert.equal(c.wait[0].label, exp.wait, 'classification.wait[0]');
  assert.equal(c.epollTrigger?.label, exp.epollTrigger, 'classification.epollTrigger');
  assert.equal(c.data[0].label, exp.data, 'classification.data[0]');
  assert.ok(Array.isArray(c.concurrency) && c.concurrency.length > 0, 'classification.concurrency is empty');
  assert.equal(c.concurrency[0].label, exp.concurrency, 'classification.concurrency[0]');
}

before(() => {
  const missing = missingBinaries();
  assert.deepEqual(missing, [], `missing ${missing.join(', ')}: run scripts/setup.sh (Debian packages nginx, redis-server, redis-tools, wrk)`);
});
after(async () => {
  await stopAllServers();
  killAll();
});

// ---------------------------------------------------------------- nginx

const NGINX_CASES = [
  { name: 'nginx sendfile on, 1 worker', workers: 1, sendfile: true },
  { name: 'nginx sendfile on, 2 workers', workers: 2, sendfile: true },
  { name: 'nginx sendfile off, 1 worker', workers: 1, sendfile: false },
] as const;

for (const backend of BACKENDS) for (const c of NGINX_CASES) {
  describe(`${c.name}, under wrk, traced by iotrace attach --children --backend ${backend}`, () => {
    let server: Awaited<ReturnType<typeof startNginx>>;
    let run: Traced;
    const loads: Array<{ file: string; size: number; r: WrkResult }> = [];

    before(async () => {
      server = await startNginx({ workers: c.workers, sendfile: c.sendfile });
      const pids = [server.masterPid, ...server.workerPids];
      run = await traceUnderLoad(backend, server.masterPid, pids, true, async () => {
        for (const [file, size] of Object.entries(NGINX_FILES)) loads.push({ file, size, r: await wrk(server.port, `/${file}`, WRK_SEC, CONNECTIONS) });
      });
    });
    after(async () => {
      await server?.stop();
    });

    it('syscalls: epoll_wait, accept4, and the body by sendfile (on) or pread64 + writev (off), every byte of every answer', (t) => {
      const s = run.summary;
      for (const l of loads) t.diagnostic(`wrk /${l.file}: ${l.r.requests} requests in ${l.r.seconds} s, ${l.r.requestsPerSec} req/s, ${l.r.errors} errors`);
      diagnoseCounts(t, s);
      assert.equal(s.endReason, 'duration');
      assert.ok(run.loadInsideTrace, `the load outlasted the ${TRACE_SEC} s trace`);
      for (const l of loads) {
        assert.ok(l.r.requests > 0, `wrk /${l.file} got no answer while nginx was traced`);
        assert.equal(l.r.errors, 0, `wrk /${l.file}:\n${l.r.raw}`);
      }
      const traced = new Set(s.processes.map((p) => p.pid));
      for (const p of run.pids) assert.ok(traced.has(p), `pid ${p} (master or worker) not in the summary's processes`);

      assert.ok(calls(s, 'epoll_wait') > 0, 'no epoll_wait');
      // wrk opens its connections anew for each run (keep-alive within a run).
      assert.ok(okCalls(s, 'accept4') >= loads.length * CONNECTIONS, `accept4 succeeded ${okCalls(s, 'accept4')} times, wanted ≥ ${loads.length * CONNECTIONS}`);
      const body = loads.reduce((n, l) => n + l.r.requests * l.size, 0);
      // Answers still in flight when wrk stopped: at most one per connection per run.
      const inFlight = loads.reduce((n, l) => n + CONNECTIONS * l.size, 0);
      assert.equal(calls(s, 'select') + calls(s, 'poll') + calls(s, 'ppoll'), 0, 'select/poll in an epoll server');
      if (c.sendfile) {
        assert.ok(calls(s, 'sendfile') > 0, 'no sendfile with sendfile on');
        assert.ok(bytes(s, 'sendfile') >= body, `sendfile moved ${bytes(s, 'sendfile')} B, fewer than the ${body} B of bodies wrk received`);
        assert.ok(bytes(s, 'sendfile') <= body + inFlight, `sendfile moved ${bytes(s, 'sendfile')} B, more than ${body} B + ${inFlight} B in flight`);
        // Headers only: ~260 B per answer.
        assert.ok(bytes(s, 'writev') < bytes(s, 'sendfile') / 10, `writev ${bytes(s, 'writev')} B vs sendfile ${bytes(s, 'sendfile')} B`);
        assert.equal(calls(s, 'pread64') + calls(s, 'read'), 0, 'the file was read into user space with sendfile on');
      } else {
        assert.equal(calls(s, 'sendfile'), 0, 'sendfile with sendfile off');
        assert.ok(bytes(s, 'pread64') >= body, `pread64 read ${bytes(s, 'pread64')} B, fewer than the ${body} B of bodies wrk received`);
        assert.ok(bytes(s, 'pread64') <= body + inFlight, `pread64 read ${bytes(s, 'pread64')} B, more than ${body} B + ${inFlight} B in flight`);
        assert.ok(bytes(s, 'writev') >= body, `writev sent ${bytes(s, 'writev')} B, fewer than the ${body} B of bodies`);
      }
      if (c.workers > 1) {
        // Both workers run their own loop; EPOLLEXCLUSIVE on the shared listen
        // socket hands each new connection to a worker that is waiting.
        const perWorker = server.workerPids.map((p) => ({ pid: p, calls: s.threads.filter((x) => x.pid === p).reduce((n, x) => n + x.calls, 0), out: s.threads.filter((x) => x.pid === p).reduce((n, x) => n + x.bytesOut, 0) }));
        t.diagnostic(`per worker: ${perWorker.map((w) => `pid ${w.pid} ${w.calls} calls, ${w.out} B out`).join('; ')}`);
        for (const w of perWorker) assert.ok(w.calls > 0, `worker ${w.pid} made no syscall`);
      }
    });

    it('after iotrace: master and workers run on untraced and nginx still answers', async () => {
      for (const p of run.pids) assertThreadsUntraced(p);
      for (const [file, size] of Object.entries(NGINX_FILES)) {
        assert.deepEqual(await httpGet(server.port, `/${file}`), { status: 200, bytes: size }, `GET /${file} after the trace`);
      }
    });

    it(`classification: ${JSON.stringify(EXPECTED[c.name])}`, (t) => {
      assertClassification(run.summary, EXPECTED[c.name], t);
    });
  });
}

// ---------------------------------------------------------------- redis

for (const backend of BACKENDS) describe(`redis-server, under redis-benchmark, traced by iotrace attach --backend ${backend}`, () => {
  let server: Awaited<ReturnType<typeof startRedis>>;
  let run: Traced;
  let bench: RedisBenchResult;

  before(async () => {
    server = await startRedis();
    run = await traceUnderLoad(backend, server.pid, [server.pid], false, async () => {
      bench = await redisBenchmark(server.port, REDIS_REQUESTS, CONNECTIONS);
    });
  });
  after(async () => {
    await server?.stop();
  });

  it('syscalls: epoll_wait, accept4, a read and a write per request', (t) => {
    const s = run.summary;
    t.diagnostic(`redis-benchmark -n ${bench.requests} -c ${CONNECTIONS}: ${Object.entries(bench.rps).map(([k, v]) => `${k} ${v} req/s`).join(', ')}`);
    t.diagnostic(`threads: ${s.threads.map((x) => `${x.tid} ${x.calls} calls`).join('; ')}`);
    diagnoseCounts(t, s);
    assert.equal(s.endReason, 'duration');
    assert.ok(run.loadInsideTrace, `the load outlasted the ${TRACE_SEC} s trace`);
    const requests = 2 * REDIS_REQUESTS; // SETs then GETs
    assert.ok(calls(s, 'epoll_wait') > 0, 'no epoll_wait');
    // One connection per client per test (-c), plus redis-benchmark's CONFIG GET.
    assert.ok(okCalls(s, 'accept4') >= 2 * CONNECTIONS, `accept4 succeeded ${okCalls(s, 'accept4')} times, wanted ≥ ${2 * CONNECTIONS}`);
    // No pipelining (-P 1): every request is read, and answered by one write.
    assert.ok(calls(s, 'read') >= requests, `read ${calls(s, 'read')} calls for ${requests} requests`);
    assert.ok(calls(s, 'write') >= requests, `write ${calls(s, 'write')} calls for ${requests} requests`);
    // "+OK\r\n" per SET, "$3\r\nxxx\r\n" per GET (redis-benchmark's default 3-byte value).
    assert.ok(bytes(s, 'write') >= REDIS_REQUESTS * (5 + 9), `write ${bytes(s, 'write')} B`);
    assert.equal(calls(s, 'sendfile') + calls(s, 'select') + calls(s, 'poll'), 0, 'sendfile/select/poll in redis');
    const busy = s.threads.filter((x) => x.bytesIn + x.bytesOut > 0);
    assert.deepEqual(busy.map((x) => x.tid), [server.pid], 'client I/O outside the main thread');
  });

  it('after iotrace: redis-server runs on untraced and still answers PING', async () => {
    assertThreadsUntraced(server.pid);
    assert.equal(await redisPing(server.port), '+PONG');
  });

  it(`classification: ${JSON.stringify(EXPECTED.redis)}`, (t) => {
    assertClassification(run.summary, EXPECTED.redis, t);
  });
});
