// SPDX-License-Identifier: MIT
// iotrace captures no payload: a random secret sent through the echo server and copied
// through files while iotrace records everything it can (--record with --events, --json,
// the Prometheus endpoint) appears in none of it, as text, hex or base64, under either
// backend. Only the sizes of the I/O are counted, and the test checks they were.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Summary } from '../agent/summary';
import { echo, iotrace, killAll, start, startEchoServer, type Proc } from './harness';
import { summaryOf } from './exact-io';

const BACKENDS = ['ptrace', 'ebpf'] as const;
const ROUNDS = 20;
const WAIT_MS = 20_000;

afterEach(() => killAll());
after(() => killAll());

/** The forms a leaked secret could take in a text output. */
function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, bytes.toString('hex'), bytes.toString('hex').toUpperCase(), bytes.toString('base64'), bytes.toString('base64url')];
}

/**
 * Attaches with every output on (recording with events, --json, /metrics), runs drive()
 * while it traces, scrapes /metrics, detaches, and returns every text iotrace produced.
 */
async function traceEverything(backend: (typeof BACKENDS)[number], pid: number, dir: string, drive: () => Promise<void>): Promise<{ texts: Record<string, string>; summary: Summary }> {
  const record = path.join(dir, `${backend}-${pid}.jsonl`);
  const tracer = iotrace(['attach', String(pid), '--backend', backend, '--record', record, '--events', '--json', '--no-ui', '--interval', '0.2', '--prometheus', '127.0.0.1:0']);
  const url = (await tracer.waitFor(/serving Prometheus metrics on (http:\/\/\S+\/metrics)/, WAIT_MS))[1];
  await tracer.waitFor(/attached to pid/, WAIT_MS);
  await drive();
  // Two snapshots later the counts of drive() are in the exporter.
  await new Promise((r) => setTimeout(r, 500));
  const metrics = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  tracer.child.kill('SIGINT');
  assert.deepEqual(await tracer.exited(WAIT_MS), { code: 0, signal: null }, tracer.stderr());
  return { texts: { recording: fs.readFileSync(record, 'utf8'), stdout: tracer.stdout(), stderr: tracer.stderr(), metrics }, summary: summaryOf(tracer) };
}

function assertNowhere(secret: string, texts: Record<string, string>): void {
  for (const [where, text] of Object.entries(texts)) {
    assert.ok(text.length > 0, `${where} is empty: nothing to look in`);
    for (const form of encodings(secret)) assert.ok(!text.includes(form), `the secret (as ${form}) is in the ${where}`);
  }
}

/** Bytes the summary counted for the syscalls named. */
function bytesOf(summary: Summary, names: string[]): number {
  return summary.syscalls.filter((s) => names.includes(s.name)).reduce((n, s) => n + s.bytes, 0);
}

describe('no payload is captured', () => {
  for (const backend of BACKENDS) {
    it(`--backend ${backend}: a secret through the echo server appears in no recording, --json output, stderr or /metrics`, async () => {
      const secret = randomBytes(16).toString('hex');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-privacy-'));
      try {
        const { proc: server, port } = await startEchoServer();
        const { texts, summary } = await traceEverything(backend, server.pid, dir, async () => {
          for (let i = 0; i < ROUNDS; i++) assert.equal(await echo(port, `${secret}\n`), `${secret}\n`);
        });
        // The secret did go through traced syscalls: its bytes were counted, in and out.
        const line = secret.length + 1;
        assert.ok(summary.totals.bytesCopiedIn >= ROUNDS * line, `only ${summary.totals.bytesCopiedIn} bytes in counted`);
        assert.ok(summary.totals.bytesCopiedOut >= ROUNDS * line, `only ${summary.totals.bytesCopiedOut} bytes out counted`);
        assertNowhere(secret, texts);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`--backend ${backend}: a secret copied from file to file appears in no recording, --json output, stderr or /metrics`, async () => {
      const secret = randomBytes(16).toString('hex');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-privacy-'));
      let copier: Proc | undefined;
      try {
        // The secret is in the file only: not in any command line, path or environment.
        const source = path.join(dir, 'source');
        fs.writeFileSync(source, `${secret}\n`, { mode: 0o600 });
        // A shell that copies the file with cat (read/write) 20 times a second; iotrace
        // follows the cats it forks.
        copier = start('sh', ['-c', 'while :; do cat source > copy; cat copy > /dev/null; sleep 0.05; done'], { cwd: dir });
        const { texts, summary } = await traceEverything(backend, copier.pid, dir, () => new Promise((r) => setTimeout(r, 1500)));
        // The secret did go through traced syscalls: at least a few copies were counted.
        const line = secret.length + 1;
        assert.ok(bytesOf(summary, ['read']) >= 4 * line, `only ${bytesOf(summary, ['read'])} bytes read counted`);
        assert.ok(bytesOf(summary, ['write']) >= 2 * line, `only ${bytesOf(summary, ['write'])} bytes written counted`);
        assert.ok(summary.counters.forks > 0, 'no cat was followed');
        assertNowhere(secret, texts);
      } finally {
        // The shell first: a cat it started may still be writing the copy.
        copier?.child.kill('SIGKILL');
        await copier?.exited(WAIT_MS);
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
      }
    });
  }
});
