// SPDX-License-Identifier: MIT
// Proves the C workloads behave as the tracer tests assume: exact-io makes exactly the syscalls it announces (per strace -f -c, launched and attached) and echo-server echoes, counts SIGUSR1 and exits cleanly.
import { afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { straceAttach, straceRun, withTimeout, type SyscallCount } from './strace';

// Compiled to dist/test, so the repository root is two levels up.
const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'test', 'workloads', 'bin');
const EXACT_IO = join(BIN, 'exact-io');
const ECHO_SERVER = join(BIN, 'echo-server');
const COUNTED = ['read', 'write', 'pread64', 'sendfile', 'select', 'poll', 'epoll_wait', 'accept4'];
const WAIT_MS = 10_000;

const straceMissing = spawnSync('strace', ['-V']).status === 0 ? false : 'strace is not installed (apt-get install strace)';

const children = new Set<ChildProcess>();

function start(file: string, args: string[]): { child: ChildProcess; exited: Promise<[number | null, string | null]> } {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const exited = new Promise<[number | null, string | null]>((res, rej) => {
    child.once('error', rej);
    child.once('exit', (code, signal) => {
      children.delete(child);
      res([code, signal]);
    });
  });
  // Tests that fail early never await this; the rejection must not be reported as unhandled.
  exited.catch(() => {});
  return { child, exited };
}

/** Hands out complete '\n'-terminated lines of a stream, each wait bounded. */
class Lines {
  private buf = '';
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      this.buf += d;
      this.wake?.();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  async next(what: string): Promise<string> {
    const line = new Promise<string>((res, rej) => {
      const check = (): void => {
        const nl = this.buf.indexOf('\n');
        if (nl >= 0) {
          this.wake = undefined;
          const l = this.buf.slice(0, nl + 1);
          this.buf = this.buf.slice(nl + 1);
          res(l);
        } else if (this.ended) {
          rej(new Error(`stream ended before ${what}; got ${JSON.stringify(this.buf)}`));
        }
      };
      this.wake = check;
      check();
    });
    return withTimeout(line, WAIT_MS, what);
  }
}

interface Expectation {
  pid: number;
  bytes_read: number;
  [syscall: string]: number;
}

function parseExpectation(line: string): Expectation {
  const parsed: unknown = JSON.parse(line);
  assert.ok(typeof parsed === 'object' && parsed !== null, `not a JSON object: ${line}`);
  for (const key of ['pid', 'bytes_read', ...COUNTED]) {
    assert.ok(Number.isInteger((parsed as Record<string, unknown>)[key]), `${key} missing from ${line}`);
  }
  return parsed as Expectation;
}

function assertCounts(counts: Map<string, SyscallCount>, expected: Expectation): void {
  const actual: Record<string, SyscallCount> = {};
  const wanted: Record<string, SyscallCount> = {};
  for (const name of COUNTED) {
    actual[name] = counts.get(name) ?? { calls: 0, errors: 0 };
    wanted[name] = { calls: expected[name], errors: 0 };
  }
  assert.deepEqual(actual, wanted);
}

describe('test workloads', { skip: straceMissing }, () => {
  before(() => {
    for (const bin of [EXACT_IO, ECHO_SERVER]) {
      assert.ok(existsSync(bin), `${bin} is missing; build it with: make -s -C test/workloads`);
    }
  });

  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  test('exact-io --now makes exactly the syscalls it announces, counted by strace -f -c from exec', async () => {
    const [t, n] = [2, 150];
    const { counts, stdout, stderr, exitCode } = await straceRun([EXACT_IO, '--now', '--threads', `${t}`, '--iters', `${n}`]);
    assert.equal(exitCode, 0, `exact-io failed:\n${stderr}`);
    const lines = stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `exact-io should print one line, printed: ${stdout}`);
    const expected = parseExpectation(lines[0]);
    // The announced numbers follow from T and N as documented in exact-io.c.
    const { pid: _pid, ...announced } = expected;
    assert.deepEqual(announced, {
      read: n, write: 2 * n, pread64: n + 2 * t * n, sendfile: n, select: n, poll: n, epoll_wait: n, accept4: n,
      bytes_read: (2 * n + 2 * t * n) * 4096,
    });
    assertCounts(counts, expected);
  });

  test('exact-io makes exactly the announced syscalls after an attach, in new threads and a forked child too', async () => {
    const { child, exited } = start(EXACT_IO, []);
    const expected = parseExpectation(await new Lines(child.stdout!).next('exact-io expectation line'));
    assert.equal(expected.pid, child.pid);
    const counts = await straceAttach(expected.pid, async () => {
      // exact-io blocks SIGUSR1 and waits in sigwaitinfo, so this starts the phase.
      child.kill('SIGUSR1');
      const [code, signal] = await withTimeout(exited, 30_000, 'exact-io finishing its measured phase');
      assert.deepEqual({ code, signal }, { code: 0, signal: null });
    });
    assertCounts(counts, expected);
  });

  test('echo-server echoes lines, reports every SIGUSR1 on "stats" and exits 0 on SIGTERM', async () => {
    const { child, exited } = start(ECHO_SERVER, ['--port', '0']);
    const portLine = await new Lines(child.stdout!).next('echo-server port line');
    const m = /^port=(\d+)\n$/.exec(portLine);
    assert.ok(m, `unexpected first line: ${JSON.stringify(portLine)}`);

    const sock: Socket = connect(Number(m[1]), '127.0.0.1');
    try {
      await withTimeout(once(sock, 'connect'), WAIT_MS, 'connecting to echo-server');
      const replies = new Lines(sock);
      sock.write('hello\n');
      assert.equal(await replies.next('echo of hello'), 'hello\n');

      // Standard signals do not queue: a second SIGUSR1 sent while the first is still
      // pending would merge with it. Reading stats in between proves the first was handled
      // (the handler runs before read() of "stats" returns to the server), so usr1=2 means
      // no signal was lost.
      child.kill('SIGUSR1');
      sock.write('stats\n');
      assert.equal(await replies.next('stats after one SIGUSR1'), 'usr1=1\n');
      child.kill('SIGUSR1');
      sock.write('stats\n');
      assert.equal(await replies.next('stats after two SIGUSR1'), 'usr1=2\n');
    } finally {
      sock.destroy();
    }

    child.kill('SIGTERM');
    const [code, signal] = await withTimeout(exited, WAIT_MS, 'echo-server exiting on SIGTERM');
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
  });
});
