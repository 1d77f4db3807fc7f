// SPDX-License-Identifier: MIT
// --prometheus and `iotrace serve`: /metrics scraped while a lab server is traced under
// load (names, types, labels, counters that only grow up to the summary's), the final
// figures of a target that exited (equal to its summary), errors before any attach, and a
// real Prometheus server (Debian's) that scrapes iotrace and stores exactly what
// iotrace's summary and exact-io's announcement say.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { findModel, LOAD_BINARY, serverCommand } from '../agent/lab/models';
import type { Summary } from '../agent/summary';
import { iotrace, killAll, sleep, start, statusField, WORKLOADS, type Proc } from './harness';

const PROMETHEUS = '/usr/bin/prometheus';
const EXACT_IO = path.join(WORKLOADS, 'exact-io');
/** The syscalls exact-io announces (test/workloads/exact-io.c). */
const COUNTED = ['read', 'write', 'pread64', 'sendfile', 'select', 'poll', 'epoll_wait', 'accept4'] as const;
const EXIT_MS = 60_000;

// ---------------------------------------------------------------------------------------
// The text exposition format, parsed as Prometheus does for what these tests need.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1], t[2]);
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return { types, samples };
}

function pick(e: Exposition, name: string, match: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

async function scrape(url: string): Promise<Exposition> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** The /metrics URL iotrace announces on stderr. */
async function metricsUrl(p: Proc): Promise<string> {
  return (await p.waitFor(/serving Prometheus metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/, 20_000))[1];
}

function summaryOf(p: Proc): Summary {
  try {
    return JSON.parse(p.stdout()) as Summary;
  } catch (err) {
    throw new Error(`no JSON summary (${String(err)})\nstdout: ${p.stdout()}\nstderr: ${p.stderr()}`);
  }
}

/** The classification as iotrace_classification_info's labels put it. */
function classificationLabels(s: Summary): Record<string, string> {
  const c = s.classification;
  const j = (l: string[]): string => l.join('+') || 'none';
  return {
    wait: j(c.wait.map((w) => w.label)),
    trigger: c.epollTrigger?.label ?? 'none',
    data: j(c.data.filter((d) => !d.minor).map((d) => d.label)),
    concurrency: j(c.concurrency.map((x) => x.label)),
  };
}

/** Every syscall's figures on /metrics for one pid: calls, errors, histogram count/sum/+Inf. */
function syscallFigures(e: Exposition, pid: number): Map<string, { calls: number; errors: number; count: number; inf: number; sumSec: number }> {
  const out = new Map<string, { calls: number; errors: number; count: number; inf: number; sumSec: number }>();
  const p = { pid: String(pid) };
  for (const s of pick(e, 'iotrace_syscalls_total', p)) {
    const sys = { ...p, syscall: s.labels.syscall };
    out.set(s.labels.syscall, {
      calls: s.value,
      errors: pick(e, 'iotrace_syscall_errors_total', sys).reduce((n, x) => n + x.value, 0),
      count: pick(e, 'iotrace_syscall_duration_seconds_count', sys)[0]?.value ?? NaN,
      inf: pick(e, 'iotrace_syscall_duration_seconds_bucket', { ...sys, le: '+Inf' })[0]?.value ?? NaN,
      sumSec: pick(e, 'iotrace_syscall_duration_seconds_sum', sys)[0]?.value ?? NaN,
    });
  }
  return out;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts exact-io and resolves with it and its announcement, once it waits for SIGUSR1. */
async function startExactIo(): Promise<{ proc: Proc; expected: Record<string, number> }> {
  const proc = start(EXACT_IO, ['--threads', '3', '--iters', '200']);
  const line = (await proc.waitFor(/^\{"pid".*\}$/m))[0];
  return { proc, expected: JSON.parse(line) as Record<string, number> };
}

afterEach(() => killAll());
after(() => killAll());

describe('iotrace --prometheus', () => {
  it('serves /metrics while attached to a lab server under load: Prometheus names, types and labels, counters that only grow, up to the summary', async () => {
    const model = findModel('epoll-lt');
    assert.ok(model);
    const cmd = serverCommand(model);
    const server = start(cmd.file, [...cmd.args, '--port', '0']);
    const port = Number((await server.waitFor(/port=(\d+)/))[1]);
    const tracer = iotrace(['attach', String(server.pid), '--prometheus', '127.0.0.1:0', '--no-ui', '--json', '--duration', '4', '--interval', '0.25']);
    const url = await metricsUrl(tracer);
    await tracer.waitFor(/attached to pid/, 20_000);
    start(LOAD_BINARY(), ['--target', `127.0.0.1:${port}`, '--connections', '8', '--duration', '6']);

    const scrapes: Exposition[] = [];
    while (!tracer.stdout().includes('"schema"')) {
      try {
        scrapes.push(await scrape(url));
      } catch (err) {
        if (tracer.stdout().includes('"schema"')) break; // it ended between the check and the fetch
        throw err;
      }
      await sleep(300);
    }
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());
    const summary = summaryOf(tracer);
    const last = scrapes.filter((e) => pick(e, 'iotrace_syscalls_total').length > 0).pop();
    assert.ok(last && scrapes.length >= 3, `too few scrapes with syscalls (${scrapes.length})`);

    const types: Record<string, string> = {
      iotrace_syscalls_total: 'counter',
      iotrace_syscall_duration_seconds: 'histogram',
      iotrace_syscall_errors_total: 'counter',
      iotrace_bytes_total: 'counter',
      iotrace_classification_info: 'gauge',
      iotrace_events_dropped_total: 'counter',
      iotrace_snapshot_lag_seconds: 'gauge',
      iotrace_target_traced: 'gauge',
      iotrace_backend_info: 'gauge',
      process_cpu_seconds_total: 'counter',
    };
    for (const [name, type] of Object.entries(types)) assert.equal(last.types.get(name), type, `TYPE of ${name}`);
    // Every iotrace_ sample names its target.
    for (const s of last.samples.filter((x) => x.name.startsWith('iotrace_'))) {
      assert.deepEqual([s.labels.pid, s.labels.comm], [String(server.pid), 'epoll-lt'], `${s.name} labels ${JSON.stringify(s.labels)}`);
    }
    assert.deepEqual(pick(last, 'iotrace_backend_info').map((s) => [s.labels.backend, s.value]), [[summary.backend, 1]]);
    assert.deepEqual(pick(last, 'iotrace_target_traced').map((s) => s.value), [1]);
    const lag = pick(last, 'iotrace_snapshot_lag_seconds')[0]?.value;
    assert.ok(lag !== undefined && lag >= 0 && lag < 30, `snapshot lag ${lag}`);
    assert.deepEqual(
      [...new Set(pick(last, 'iotrace_syscalls_total').map((s) => s.labels.class))].sort().includes('wait.epoll'),
      true,
      'an epoll server waits in class wait.epoll',
    );
    const info = pick(last, 'iotrace_classification_info');
    assert.equal(info.length, 1);
    const { pid: _p, comm: _c, ...model_labels } = info[0].labels;
    assert.deepEqual(model_labels, classificationLabels(summary));

    // Histograms: buckets cumulative, +Inf = _count = the calls.
    for (const s of pick(last, 'iotrace_syscalls_total')) {
      const buckets = pick(last, 'iotrace_syscall_duration_seconds_bucket', { syscall: s.labels.syscall });
      const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
      assert.deepEqual(les, [...les].sort((a, b) => a - b), `le order of ${s.labels.syscall}`);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, `${s.labels.syscall} buckets not cumulative`);
      assert.equal(buckets.at(-1)?.labels.le, '+Inf');
      assert.equal(buckets.at(-1)?.value, s.value);
    }

    // Counters only grow from scrape to scrape, and end at or below the summary's figures
    // (the summary is read once more after the last snapshot).
    const key = (s: Sample): string => `${s.name}${JSON.stringify(s.labels)}`;
    for (let i = 1; i < scrapes.length; i++) {
      const before = new Map(scrapes[i - 1].samples.filter((s) => /_total$|_bucket$|_count$/.test(s.name)).map((s) => [key(s), s.value]));
      for (const s of scrapes[i].samples.filter((x) => x.name.startsWith('iotrace_') && /_total$|_bucket$|_count$/.test(x.name))) {
        assert.ok(s.value >= (before.get(key(s)) ?? 0), `${key(s)} went down: ${before.get(key(s))} -> ${s.value}`);
      }
    }
    const figures = syscallFigures(last, server.pid);
    for (const s of summary.syscalls) {
      const f = figures.get(s.name);
      if (!f) continue; // first called after the last scrape
      assert.ok(f.calls <= s.calls && f.errors <= s.errors, `${s.name}: scraped ${JSON.stringify(f)} > summary ${s.calls}/${s.errors}`);
      assert.equal(f.count, f.calls);
    }
    const total = [...figures.values()].reduce((n, f) => n + f.calls, 0);
    assert.ok(total > 0 && total <= summary.totals.calls, `scraped ${total} calls, summary ${summary.totals.calls}`);
    const bytesIn = pick(last, 'iotrace_bytes_total', { direction: 'in', path: 'copy' })[0]?.value ?? NaN;
    assert.ok(bytesIn > 0 && bytesIn <= summary.totals.bytesCopiedIn, `bytes in ${bytesIn} vs ${summary.totals.bytesCopiedIn}`);
  });

  it('refuses a busy port and a bad address with one line before touching the target', async () => {
    const { proc } = await startExactIo();
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      for (const [args, status, re] of [
        [['attach', String(proc.pid), '--prometheus', `127.0.0.1:${port}`], 1, /^iotrace: --prometheus 127\.0\.0\.1:\d+: EADDRINUSE.*\n$/],
        [['serve', '--pid', String(proc.pid), '--prometheus', `:${port}`], 1, /^iotrace: --prometheus 127\.0\.0\.1:\d+: EADDRINUSE.*\n$/],
        [['attach', String(proc.pid), '--prometheus', 'localhost:99999'], 2, /^iotrace: option '--prometheus .*' argument 'localhost:99999' is invalid\. expected \[host:\]port.*\n$/],
        [['serve', '--pid', String(proc.pid)], 2, /^iotrace: required option '--prometheus .*' not specified.*\n$/],
      ] as Array<[string[], number, RegExp]>) {
        const p = iotrace(args);
        assert.deepEqual(await p.exited(EXIT_MS), { code: status, signal: null }, args.join(' '));
        assert.match(p.stderr(), re, args.join(' '));
        assert.equal(p.stdout(), '');
      }
      assert.equal(statusField(proc.pid, 'TracerPid'), '0');
      assert.match(statusField(proc.pid, 'State') ?? '', /^S/);
    } finally {
      busy.close();
    }
  });

  it('listens on 127.0.0.1 only when given just a port: the socket is bound to loopback, the machine\'s other addresses refuse, 0.0.0.0 must be asked for', async () => {
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((a): a is os.NetworkInterfaceInfo => a !== undefined && a.family === 'IPv4' && !a.internal)
      .map((a) => a.address);
    assert.ok(others.length > 0, 'this machine has no IPv4 address but loopback: nothing to try the exporter on');
    const { proc } = await startExactIo();
    const tracer = iotrace(['attach', String(proc.pid), '--prometheus', '0', '--no-ui', '--duration', '30']);
    const url = await metricsUrl(tracer);
    const port = Number(new URL(url).port);
    // The kernel's view (include/net/tcp_states.h: 0A is TCP_LISTEN): one listener on this
    // port, on 127.0.0.1 (0100007F, little-endian hex), none on IPv6.
    const listeners = (file: string): string[] =>
      fs.readFileSync(file, 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[3] === '0A' && f[1]?.endsWith(`:${port.toString(16).toUpperCase().padStart(4, '0')}`)).map((f) => f[1]);
    assert.deepEqual(listeners('/proc/net/tcp'), [`0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`]);
    assert.deepEqual(listeners('/proc/net/tcp6'), []);
    for (const address of others) {
      await assert.rejects(fetch(`http://${address}:${port}/metrics`, { signal: AbortSignal.timeout(5000) }), (err: Error) => /ECONNREFUSED/.test(String((err.cause as Error | undefined)?.message ?? err)), `${address}:${port} answered`);
    }
    assert.match(await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text(), /^# HELP iotrace_/m);
    tracer.child.kill('SIGINT');
    assert.deepEqual(await tracer.exited(EXIT_MS), { code: 0, signal: null }, tracer.stderr());

    // Told otherwise, it listens where it is told: the same address answers.
    const open = iotrace(['attach', String(proc.pid), '--prometheus', '0.0.0.0:0', '--no-ui', '--duration', '30']);
    const openPort = (await open.waitFor(/serving Prometheus metrics on http:\/\/0\.0\.0\.0:(\d+)\/metrics/, 20_000))[1];
    assert.match(await (await fetch(`http://${others[0]}:${openPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text(), /^# HELP iotrace_/m);
    open.child.kill('SIGINT');
    assert.deepEqual(await open.exited(EXIT_MS), { code: 0, signal: null }, open.stderr());
  });

  it('serve traces two pids from one agent; a target that exits keeps its final figures, equal to its summary', async () => {
    const a = await startExactIo();
    const b = await startExactIo();
    const agent = iotrace(['serve', '--prometheus', '127.0.0.1:0', '--pid', String(a.proc.pid), '--pid', String(b.proc.pid), '--json', '--interval', '0.2']);
    const url = await metricsUrl(agent);
    await agent.waitFor(new RegExp(`attached to pid ${b.proc.pid} `), 20_000);
    process.kill(a.proc.pid, 'SIGUSR1');
    assert.deepEqual(await a.proc.exited(EXIT_MS), { code: 0, signal: null });
    await agent.waitFor(new RegExp(`pid ${a.proc.pid} exited`), 20_000);
    const final = await scrape(url);
    assert.deepEqual(pick(final, 'iotrace_target_traced').map((s) => [s.labels.pid, s.value]).sort(), [[String(a.proc.pid), 0], [String(b.proc.pid), 1]]);
    // b is still traced; now end it too, and serve with a signal.
    process.kill(b.proc.pid, 'SIGUSR1');
    assert.deepEqual(await b.proc.exited(EXIT_MS), { code: 0, signal: null });
    await agent.waitFor(new RegExp(`pid ${b.proc.pid} exited`), 20_000);
    const final2 = await scrape(url);
    agent.child.kill('SIGTERM');
    assert.deepEqual(await agent.exited(EXIT_MS), { code: 0, signal: null }, agent.stderr());
    const summaries = JSON.parse(agent.stdout()) as Summary[];
    assert.deepEqual(summaries.map((s) => s.target.pid), [a.proc.pid, b.proc.pid]);
    for (const [i, { proc, expected }] of [a, b].entries()) {
      const s = summaries[i];
      assert.equal(s.endReason, 'target-exit');
      const figures = syscallFigures(i === 0 ? final : final2, proc.pid);
      // Exact: the exporter serves the very snapshot the summary is made from.
      assert.deepEqual(
        Object.fromEntries([...figures].map(([n, f]) => [n, [f.calls, f.errors, f.count, f.inf]]).sort()),
        Object.fromEntries(s.syscalls.map((x) => [x.name, [x.calls, x.errors, x.calls, x.calls]]).sort()),
      );
      for (const x of s.syscalls) assert.ok(Math.abs((figures.get(x.name)?.sumSec ?? NaN) - x.totalNs / 1e9) < 1e-9, `${x.name} _sum`);
      for (const n of COUNTED) assert.equal(figures.get(n)?.calls, expected[n], `${n} as exact-io announced`);
      const bytes = pick(i === 0 ? final : final2, 'iotrace_bytes_total', { pid: String(proc.pid) });
      assert.deepEqual(
        Object.fromEntries(bytes.map((x) => [`${x.labels.direction}/${x.labels.path}`, x.value])),
        { 'in/copy': s.totals.bytesCopiedIn, 'out/copy': s.totals.bytesCopiedOut, 'out/zero_copy': s.totals.bytesZeroCopy },
      );
    }
  });
});

describe('a real Prometheus server scraping iotrace', () => {
  let prometheus: Proc | undefined;
  let dir: string | undefined;
  after(async () => {
    prometheus?.child.kill('SIGTERM');
    await prometheus?.exited(20_000).catch(() => prometheus?.child.kill('SIGKILL'));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores counters equal to iotrace\'s summary and to exact-io\'s announcement, and answers the README\'s PromQL', async () => {
    assert.ok(fs.existsSync(PROMETHEUS), `${PROMETHEUS} is missing: npm run setup installs Debian's prometheus package`);
    const target = await startExactIo();
    const agent = iotrace(['serve', '--prometheus', '127.0.0.1:0', '--pid', String(target.proc.pid), '--json', '--interval', '0.2']);
    const url = new URL(await metricsUrl(agent));
    await agent.waitFor(/attached to pid/, 20_000);

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-prometheus-'));
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: iotrace',
        '    static_configs:',
        `      - targets: ['${url.host}']`,
        '',
      ].join('\n'),
    );
    const promPort = await freePort();
    prometheus = start(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`]);
    await prometheus.waitFor(/Server is ready to receive web requests/, 60_000);

    const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { status: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      assert.equal(body.status, 'success', q);
      return body.data.result;
    };
    const until = async <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await f();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`Prometheus: ${what} not within ${timeoutMs} ms\niotrace: ${agent.stderr()}\nprometheus: ${prometheus?.stderr().slice(-2000)}`);
        await sleep(250);
      }
    };
    const pid = String(target.proc.pid);
    // Scraped while traced, then the workload runs and exits.
    await until('a scrape of iotrace', async () => ((await query(`iotrace_target_traced{pid="${pid}"} == 1`)).length ? true : undefined));
    process.kill(target.proc.pid, 'SIGUSR1');
    assert.deepEqual(await target.proc.exited(EXIT_MS), { code: 0, signal: null });
    // A scrape that shows the session ended carries the final figures.
    await until('the final figures', async () => ((await query(`iotrace_target_traced{pid="${pid}"} == 0`)).length ? true : undefined));

    const stored = new Map((await query(`iotrace_syscalls_total{pid="${pid}"}`)).map((r) => [r.metric.syscall, Number(r.value[1])]));
    const byClass = new Map((await query(`sum by (class) (iotrace_syscalls_total{pid="${pid}"})`)).map((r) => [r.metric.class, Number(r.value[1])]));
    const bytes = new Map((await query(`iotrace_bytes_total{pid="${pid}"}`)).map((r) => [`${r.metric.direction}/${r.metric.path}`, Number(r.value[1])]));
    const p99 = await query(`histogram_quantile(0.99, iotrace_syscall_duration_seconds_bucket{pid="${pid}",syscall="pread64"})`);
    // rate() needs two samples of a series: the one after the final scrape will do.
    const rate = await until('a rate', async () => {
      const r = await query(`sum by (class) (rate(iotrace_syscalls_total{pid="${pid}"}[1m]))`);
      return r.length ? r : undefined;
    });
    const labels = (await query(`iotrace_syscalls_total{pid="${pid}",syscall="pread64"}`))[0]?.metric;

    agent.child.kill('SIGTERM');
    assert.deepEqual(await agent.exited(EXIT_MS), { code: 0, signal: null }, agent.stderr());
    const [summary] = JSON.parse(agent.stdout()) as Summary[];

    assert.deepEqual(labels, { __name__: 'iotrace_syscalls_total', job: 'iotrace', instance: url.host, pid, comm: 'exact-io', syscall: 'pread64', class: 'data.read' });
    assert.deepEqual(Object.fromEntries([...stored].sort()), Object.fromEntries(summary.syscalls.map((s) => [s.name, s.calls]).sort()), 'stored (actual) vs summary (expected)');
    for (const n of COUNTED) assert.equal(stored.get(n), target.expected[n], `${n}: stored vs exact-io's announcement`);
    const classes = new Map<string, number>();
    for (const s of summary.syscalls) classes.set(s.cls, (classes.get(s.cls) ?? 0) + s.calls);
    assert.deepEqual(Object.fromEntries([...byClass].sort()), Object.fromEntries([...classes].sort()));
    assert.deepEqual(Object.fromEntries([...bytes].sort()), {
      'in/copy': summary.totals.bytesCopiedIn,
      'out/copy': summary.totals.bytesCopiedOut,
      'out/zero_copy': summary.totals.bytesZeroCopy,
    });
    assert.equal(bytes.get('in/copy'), target.expected.bytes_read, 'bytes read as exact-io announced');
    // Both interpolate inside the same log2 bucket (or both under 256 ns, the first
    // bucket's bound): iotrace's [2^i, 2^(i+1)), Prometheus's (2^i, 2^(i+1)], whose
    // quantile may sit on either bound (seen: 1024 ns against iotrace's 1023 ns).
    const promNs = Number(p99[0]?.value[1]) * 1e9;
    const ownNs = summary.syscalls.find((s) => s.name === 'pread64')?.p99Ns ?? NaN;
    const low = 2 ** Math.floor(Math.log2(ownNs));
    assert.ok(
      (promNs <= 256 && ownNs <= 256) || (promNs >= low * (1 - 1e-9) && promNs <= 2 * low * (1 + 1e-9)),
      `p99 pread64: Prometheus ${promNs} ns, iotrace ${ownNs} ns`,
    );
    assert.ok(rate.every((r) => Number(r.value[1]) >= 0 && r.metric.class), `rate by class: ${JSON.stringify(rate)}`);
  });
});
