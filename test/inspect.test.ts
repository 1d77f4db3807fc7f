// SPDX-License-Identifier: MIT
// `iotrace inspect`: the picture read from /proc matches what the lab's
// reference servers are by construction (edge- or level-triggered epoll, an
// io_uring ring with or without SQPOLL, O_ASYNC sockets, threads blocked in
// accept and read), with client connections open; it is read in well under a
// second, caps long lists but keeps true counts, and refuses what it cannot read
// with one line.
import { after, afterEach, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { MAX_LISTED_EPOLL_REGISTRATIONS, MAX_LISTED_FDS, readInspection } from '../agent/inspect';
import type { Classification } from '../agent/classify/vocabulary';
import type { InspectedProcess, Inspection } from '../agent/inspection';
import { findModel, serverCommand, type LabModel } from '../agent/lab/models';
import { iotraceDone, killAll, readableCopy, sleep, start, type Proc } from './harness';

const sockets: net.Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  killAll();
});
after(() => killAll());

function model(name: string): LabModel {
  const m = findModel(name);
  assert.ok(m, `lab model ${name}`);
  return m;
}

/** Starts a lab server (flags such as --sqpoll go first) and resolves with it and its port. */
async function startServer(name: string, first: string[] = []): Promise<{ proc: Proc; port: number }> {
  const m = model(name);
  const cmd = serverCommand(m);
  const proc = start(cmd.file, [...first, ...cmd.args, '--port', '0'], { env: { ...process.env, ...m.env } });
  const match = await proc.waitFor(/port=(\d+)/);
  return { proc, port: Number(match[1]) };
}

/** Opens n connections and completes one echo exchange on each: the server has accepted and registered them all. */
async function connect(port: number, n: number): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<void>((resolve, reject) => {
        const line = `hello ${i}\n`;
        const s = net.connect(port, '127.0.0.1');
        sockets.push(s);
        let got = '';
        const timer = setTimeout(() => reject(new Error(`no echo on connection ${i} within 5 s`)), 5000);
        s.on('connect', () => s.write(line));
        s.on('data', (d) => {
          got += d.toString();
          if (got === line) {
            clearTimeout(timer);
            resolve();
          }
        });
        s.on('error', (e) => (clearTimeout(timer), reject(e)));
      }),
    ),
  );
}

/** Polls the in-process reader until cond holds (threads settle back into their syscalls after an exchange). */
async function until(what: string, pid: number, cond: (p: InspectedProcess) => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: InspectedProcess | undefined;
  while (Date.now() < deadline) {
    last = readInspection(pid, { children: false }).processes[0];
    if (cond(last)) return;
    await sleep(20);
  }
  assert.fail(`${what} within ${timeoutMs} ms; last seen: ${JSON.stringify(last?.threads)}`);
}

/** The first classification, from /proc alone, of the last inspectJson. */
let lastClassification: Classification | undefined;

/** Runs `iotrace inspect <pid> --json` and returns the inspection; its times are reported, not asserted. */
async function inspectJson(t: TestContext, pid: number, extra: string[] = []): Promise<Inspection> {
  const t0 = Date.now();
  const res = await iotraceDone(['inspect', String(pid), '--json', ...extra]);
  const wallMs = Date.now() - t0;
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stderr, '');
  const out = JSON.parse(res.stdout) as { inspection: Inspection; classification: Classification };
  assert.deepEqual(Object.keys(out), ['inspection', 'classification']);
  const ins = out.inspection;
  lastClassification = out.classification;
  // Reported, not asserted: a loaded machine makes any bound on time flaky.
  t.diagnostic(`iotrace inspect ${pid}: ${wallMs} ms wall (node start included), ${ins.durationMs.toFixed(1)} ms reading /proc`);
  assert.equal(ins.processes[0].pid, pid);
  assert.equal(ins.processes[0].parentPid, 0);
  return ins;
}

async function inspectText(pid: number, extra: string[] = []): Promise<string> {
  const res = await iotraceDone(['inspect', String(pid), ...extra]);
  assert.equal(res.code, 0, res.stderr);
  return res.stdout;
}

function listener(p: InspectedProcess, port: number): number {
  const f = p.fds.find((x) => x.desc === `127.0.0.1:${port} (listening)`);
  assert.ok(f, `a listening socket on port ${port}: ${JSON.stringify(p.fds)}`);
  return f.fd;
}

describe('iotrace inspect on the lab servers', () => {
  for (const [name, edge] of [['epoll-et', true], ['epoll-lt', false]] as const) {
    it(`${name} with 3 connections: one epoll instance, ${edge ? 'all' : 'none'} of its 4 registrations edge-triggered, the thread in epoll_wait on it`, async (t) => {
      const { proc, port } = await startServer(name);
      await connect(port, 3);
      const ins = await inspectJson(t, proc.pid);
      const p = ins.processes[0];
      assert.equal(p.comm, name);
      assert.equal(p.epoll.length, 1, JSON.stringify(p.epoll));
      const ep = p.epoll[0];
      // The listener and the three connections.
      assert.equal(ep.count, 4, JSON.stringify(ep));
      assert.equal(ep.registrations.length, 4);
      assert.equal(ep.edge, edge ? 4 : 0);
      assert.ok(ep.registrations.every((r) => r.edge === edge && !r.oneshot && !r.exclusive));
      const lfd = listener(p, port);
      assert.ok(ep.registrations.some((r) => r.tfd === lfd), 'the listener is registered');
      const tcp = p.fds.filter((f) => f.type === 'tcp');
      assert.equal(tcp.length, 4);
      assert.ok(tcp.every((f) => f.nonblock && !f.async), 'every socket of an epoll server is O_NONBLOCK');
      assert.equal(p.fdCount, p.fds.length);
      assert.deepEqual(
        p.threads.map((th) => th.syscall && { name: th.syscall.name, fd: th.syscall.fd }),
        [{ name: 'epoll_wait', fd: ep.fd }],
      );
      // Before any tracing: an epoll loop, its trigger mode from the registrations.
      assert.deepEqual(lastClassification?.wait.map((w) => w.label), ['epoll']);
      assert.equal(lastClassification?.epollTrigger?.label, edge ? 'edge' : 'level');
      assert.deepEqual(lastClassification?.concurrency.map((c) => c.label), ['single-thread']);
      assert.equal(lastClassification?.idle, false, '/proc alone never says idle');
      const text = await inspectText(proc.pid);
      for (const line of text.trimEnd().split('\n')) t.diagnostic(line);
      assert.match(text, new RegExp(`^pid ${proc.pid} ${name}: `, 'm'));
      assert.match(text, new RegExp(`1 thread in epoll_wait\\(fd ${ep.fd}\\)`));
      assert.match(text, new RegExp(`epoll +fd ${ep.fd}: 4 registered fds, all ${edge ? 'edge' : 'level'}-triggered`));
      assert.match(text, /tcp 4 \(4 non-blocking, 0 O_ASYNC\)/);
      assert.match(text, new RegExp(`listening +127\\.0\\.0\\.1:${port} \\(fd ${lfd}, tcp\\)`));
    });
  }

  it('io_uring: one ring without SQPOLL, 1024 SQ entries, the thread waiting in io_uring_enter on it', async (t) => {
    const { proc, port } = await startServer('io_uring');
    await connect(port, 2);
    const p = (await inspectJson(t, proc.pid)).processes[0];
    assert.equal(p.ioUring.length, 1, JSON.stringify(p.ioUring));
    const ring = p.ioUring[0];
    assert.equal(ring.sqThread, null);
    // RING_ENTRIES in native/lab/io-uring.c; liburing doubles it for the CQ.
    assert.equal(ring.sqEntries, 1024);
    assert.equal(ring.cqEntries, 2048);
    assert.equal(p.fds.find((f) => f.fd === ring.fd)?.type, 'io_uring');
    assert.equal(p.epoll.length, 0);
    assert.deepEqual(
      p.threads.map((th) => [th.syscall?.name, th.syscall?.fd, th.ioWorker]),
      [['io_uring_enter', ring.fd, undefined]],
    );
    assert.match(await inspectText(proc.pid), new RegExp(`io_uring +fd ${ring.fd}: no SQPOLL thread, SQ 1,024 / CQ 2,048 entries`));
  });

  it('io_uring --sqpoll: the ring names its SQPOLL thread, a kernel thread of the process in no syscall of its own', async (t) => {
    const { proc, port } = await startServer('io_uring', ['--sqpoll']);
    await connect(port, 2);
    const p = (await inspectJson(t, proc.pid)).processes[0];
    assert.equal(p.ioUring.length, 1, JSON.stringify(p.ioUring));
    const ring = p.ioUring[0];
    assert.ok(ring.sqThread !== null && ring.sqThread > 0, `SqThread ${ring.sqThread}`);
    const sq = p.threads.find((th) => th.tid === ring.sqThread);
    assert.ok(sq, `the SQPOLL thread ${ring.sqThread} is a thread of ${proc.pid}: ${JSON.stringify(p.threads)}`);
    assert.equal(sq.ioWorker, true);
    assert.equal(sq.syscall, null);
    assert.equal(sq.comm, `iou-sqp-${proc.pid}`);
    assert.equal(lastClassification?.ioUring?.sqpoll, true);
    assert.ok(lastClassification?.wait.some((w) => w.label === 'io_uring'), JSON.stringify(lastClassification?.wait));
    const text = await inspectText(proc.pid);
    for (const line of text.trimEnd().split('\n')) t.diagnostic(line);
    assert.match(text, new RegExp(`io_uring +fd ${ring.fd}: SQPOLL thread ${ring.sqThread}, `));
    assert.match(text, /1 io_uring SQPOLL thread/);
  });

  it('signal-driven: the listener and both connections are O_ASYNC (and O_NONBLOCK), the thread in rt_sigtimedwait', async (t) => {
    const { proc, port } = await startServer('signal-driven');
    await connect(port, 2);
    const p = (await inspectJson(t, proc.pid)).processes[0];
    const tcp = p.fds.filter((f) => f.type === 'tcp');
    assert.equal(tcp.length, 3, JSON.stringify(tcp));
    assert.ok(tcp.every((f) => f.async && f.nonblock), JSON.stringify(tcp));
    assert.ok(p.fds.filter((f) => f.type !== 'tcp').every((f) => !f.async), 'only the sockets are O_ASYNC');
    assert.equal(p.epoll.length, 0);
    assert.deepEqual(p.threads.map((th) => th.syscall?.name), ['rt_sigtimedwait']);
    assert.equal(p.threads[0].syscall?.fd, null);
    assert.match(await inspectText(proc.pid), /tcp 3 \(3 non-blocking, 3 O_ASYNC\)/);
  });

  it('blocking-threads with 2 connections open: 2 threads blocked in read on them, 1 in accept on the listener', async (t) => {
    const { proc, port } = await startServer('blocking-threads');
    await connect(port, 2);
    const reading = (p: InspectedProcess): number => p.threads.filter((th) => th.syscall && ['read', 'recvfrom'].includes(th.syscall.name)).length;
    await until('3 threads, 2 of them in read', proc.pid, (p) => p.threads.length === 3 && reading(p) === 2);
    const p = (await inspectJson(t, proc.pid)).processes[0];
    const lfd = listener(p, port);
    const conns = p.fds.filter((f) => f.type === 'tcp' && f.fd !== lfd);
    assert.equal(conns.length, 2);
    assert.ok(p.fds.filter((f) => f.type === 'tcp').every((f) => !f.nonblock), 'blocking sockets');
    const accepting = p.threads.filter((th) => th.syscall && ['accept', 'accept4'].includes(th.syscall.name));
    assert.deepEqual(accepting.map((th) => th.syscall?.fd), [lfd]);
    const readFds = p.threads.filter((th) => th.syscall && ['read', 'recvfrom'].includes(th.syscall.name)).map((th) => th.syscall?.fd);
    assert.deepEqual(readFds.sort(), conns.map((f) => f.fd).sort());
    // The shape alone: one thread in accept, one per connection in read.
    assert.deepEqual(lastClassification?.wait.map((w) => w.label), ['blocking']);
    assert.deepEqual(lastClassification?.concurrency.map((c) => c.label), ['thread-per-connection']);
    const text = await inspectText(proc.pid);
    for (const line of text.trimEnd().split('\n')) t.diagnostic(line);
    assert.match(text, /^ {2}threads +3: 2 threads in (read|recvfrom)\(fd \d+, \d+\), 1 thread in accept4?\(fd \d+\)$/m);
  });

  it('epoll-workers --children: the parent and its two workers, each worker with its own epoll instance', async (t) => {
    const { proc, port } = await startServer('epoll-workers');
    try {
      const ins = await inspectJson(t, proc.pid, ['--children']);
      assert.equal(ins.processes.length, 3, JSON.stringify(ins.processes.map((p) => [p.pid, p.parentPid, p.cmdline])));
      const workers = ins.processes.slice(1);
      for (const w of workers) {
        assert.equal(w.parentPid, proc.pid);
        assert.equal(w.epoll.length, 1, `worker ${w.pid}: ${JSON.stringify(w.epoll)}`);
        assert.ok(w.epoll[0].registrations.some((r) => r.tfd === listener(w, port)), 'each worker watches its own listener');
      }
      const alone = await inspectJson(t, proc.pid);
      assert.equal(alone.processes.length, 1, 'without --children, only the process asked for');
      assert.match(await inspectText(proc.pid, ['--children']), new RegExp(`^pid ${workers[0].pid} \\(child of ${proc.pid}\\) `, 'm'));
    } finally {
      // killAll's SIGKILL would reach the parent only: SIGTERM makes it stop its workers and wait for them.
      proc.child.kill('SIGTERM');
      await proc.exited(10000);
    }
  });
});

describe('iotrace inspect bounds and errors', () => {
  it(`lists at most ${MAX_LISTED_FDS} fds and ${MAX_LISTED_EPOLL_REGISTRATIONS} epoll registrations, with the true counts`, async (t) => {
    // 5000 eventfds registered edge-triggered in one epoll instance.
    const py = [
      'import os, select, resource, time',
      'resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))',
      'ep = select.epoll()',
      'fds = [os.eventfd(0) for _ in range(5000)]',
      'for fd in fds: ep.register(fd, select.EPOLLIN | select.EPOLLET)',
      'print("ready", ep.fileno(), flush=True)',
      'time.sleep(60)',
    ].join('\n');
    const proc = start('python3', ['-c', py]);
    const m = await proc.waitFor(/ready (\d+)/);
    const epfd = Number(m[1]);
    const p = (await inspectJson(t, proc.pid)).processes[0];
    assert.ok(p.fdCount >= 5003, `fdCount ${p.fdCount}`);
    assert.equal(p.fds.length, MAX_LISTED_FDS);
    assert.deepEqual(p.fds.map((f) => f.fd), [...p.fds.map((f) => f.fd)].sort((a, b) => a - b), 'the lowest numbers, in order');
    const ep = p.epoll.find((e) => e.fd === epfd);
    assert.ok(ep, `epoll fd ${epfd} is among the listed fds`);
    assert.equal(ep.count, 5000);
    assert.equal(ep.edge, 5000);
    assert.equal(ep.registrations.length, MAX_LISTED_EPOLL_REGISTRATIONS);
    const text = await inspectText(proc.pid);
    assert.match(text, /fds +5,00\d \(lowest 4,096 listed\): eventfd /);
    assert.match(text, new RegExp(`epoll +fd ${epfd}: 5,000 registered fds, all edge-triggered`));
  });

  it('says "no such process" in one line and exits 1 for a pid nobody has', async () => {
    const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    let pid = max - 1;
    while (fs.existsSync(`/proc/${pid}`)) pid--;
    for (const extra of [[], ['--json'], ['--children']]) {
      const res = await iotraceDone(['inspect', String(pid), ...extra]);
      assert.equal(res.code, 1);
      assert.equal(res.stdout, '');
      assert.equal(res.stderr, `iotrace: no such process: ${pid}\n`);
    }
  });

  it('refuses a bad pid as a usage error (exit 2)', async () => {
    const res = await iotraceDone(['inspect', 'abc']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /^iotrace: .*a pid is a positive integer/);
  });

  it('says permission denied in one line when not root and the process is not its own', async () => {
    const target = start('sleep', ['60']);
    await sleep(50);
    // The checkout may sit under a directory nobody cannot enter (mktemp -d
    // makes them 0700): nobody runs a copy of what the CLI needs instead.
    const copy = readableCopy();
    try {
      const p = start('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(copy, 'bin', 'iotrace'), 'inspect', String(target.pid)], { cwd: copy });
      const e = await p.exited(20000);
      assert.equal(e.code, 1, p.stderr());
      assert.match(p.stderr(), /^iotrace: permission denied reading \/proc\/\d+\/\S+: .*root/);
      assert.equal(p.stderr().split('\n').length, 2, 'one line');
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});
