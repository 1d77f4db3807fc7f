// SPDX-License-Identifier: MIT
// Runs `strace -f -c` on a command or a live pid and parses its summary: the reference that tests hold iotrace's counts to.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One row of an `strace -c` summary. */
export interface SyscallCount {
  calls: number;
  errors: number;
}

const RUN_TIMEOUT_MS = 60_000;
const ATTACH_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

// % time, seconds, usecs/call, calls, [errors], syscall. strace leaves errors blank when 0.
const ROW = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\S+)\s*$/;

/**
 * Parses `strace -c` output into calls and errors per syscall name. Header, dashes and the
 * `total` row are skipped; with several personalities (e.g. 32-bit tracees) rows are summed.
 * Any other line throws, so a changed output format fails loudly instead of counting zero.
 */
export function parseStraceSummary(text: string): Map<string, SyscallCount> {
  const counts = new Map<string, SyscallCount>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('%') || /^-+[\s-]*$/.test(trimmed)) continue;
    if (trimmed.startsWith('System call usage summary')) continue;
    const m = ROW.exec(line);
    if (!m) throw new Error(`unexpected line in strace -c output: ${JSON.stringify(line)}`);
    const name = m[3];
    if (name === 'total') continue;
    const prev = counts.get(name) ?? { calls: 0, errors: 0 };
    counts.set(name, {
      calls: prev.calls + Number(m[1]),
      errors: prev.errors + (m[2] === undefined ? 0 : Number(m[2])),
    });
  }
  return counts;
}

/** Settles like `promise`, or rejects with `what` after `ms` milliseconds. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': stdio is drained by then, so captured output is complete.
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function withSummaryFile<T>(fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'iotrace-strace-'));
  try {
    return await fn(join(dir, 'summary.txt'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function readSummary(file: string, stderr: string): Promise<Map<string, SyscallCount>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`strace wrote no summary; its stderr:\n${stderr}`);
  }
  return parseStraceSummary(text);
}

/**
 * Runs `strace -f -c -- argv…` to completion. exitCode is the traced command's (strace
 * passes it on). stderr holds strace's messages and the command's own stderr.
 */
export async function straceRun(
  argv: string[],
): Promise<{ counts: Map<string, SyscallCount>; stdout: string; stderr: string; exitCode: number }> {
  return withSummaryFile(async (file) => {
    // Own process group, so a timeout can kill strace and the command it started together.
    const strace = spawn('strace', ['-f', '-c', '-o', file, '--', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    strace.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    strace.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let exit: Exit;
    try {
      exit = await withTimeout(exitOf(strace), RUN_TIMEOUT_MS, `strace -f -c -- ${argv.join(' ')}`);
    } catch (err) {
      if (strace.pid !== undefined && running(strace)) process.kill(-strace.pid, 'SIGKILL');
      throw err;
    }
    if (exit.code === null) throw new Error(`strace killed by ${exit.signal}; stderr:\n${stderr}`);
    return { counts: await readSummary(file, stderr), stdout, stderr, exitCode: exit.code };
  });
}

/**
 * Attaches `strace -f -c` to a running pid, runs `during()` once strace reports the attach,
 * and returns the counts once `during()` has finished or the traced process has exited
 * (strace then exits by itself); otherwise strace is stopped with SIGINT, which detaches
 * and writes the summary. The target is left running unless it exited on its own.
 */
export async function straceAttach(
  pid: number,
  during: () => Promise<void>,
  timeoutMs = RUN_TIMEOUT_MS,
): Promise<Map<string, SyscallCount>> {
  return withSummaryFile(async (file) => {
    const strace = spawn('strace', ['-f', '-c', '-o', file, '-p', String(pid)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = exitOf(strace);
    let stderr = '';
    // "Process N attached" (or "... attached with T threads") is printed after PTRACE_SEIZE
    // and PTRACE_INTERRUPT of every thread: from then on no syscall goes uncounted.
    const attached = new Promise<void>((resolve, reject) => {
      strace.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (/Process \d+ attached/.test(stderr)) resolve();
      });
      exited.then(
        () => reject(new Error(`strace exited before attaching to pid ${pid}:\n${stderr}`)),
        reject,
      );
    });
    try {
      await withTimeout(attached, ATTACH_TIMEOUT_MS, `strace attaching to pid ${pid}`);
      const done = Promise.resolve().then(during);
      await withTimeout(Promise.race([done, exited]), timeoutMs, `during() while strace is attached to pid ${pid}`);
      if (running(strace)) strace.kill('SIGINT');
      await withTimeout(exited, STOP_TIMEOUT_MS, `strace exiting after SIGINT (pid ${pid})`);
      // Surfaces a failure of during() even when the target's exit won the race.
      await withTimeout(done, timeoutMs, `during() after strace stopped (pid ${pid})`);
    } catch (err) {
      // A killed strace detaches; the kernel resumes the target (ptrace(2), tracer death).
      if (running(strace)) strace.kill('SIGKILL');
      throw err;
    }
    return readSummary(file, stderr);
  });
}
