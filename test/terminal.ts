// SPDX-License-Identifier: MIT
// The dashboard in a real terminal for tests: tmux runs iotrace, send-keys
// presses keys, capture-pane reads the screen. Every wait is bounded; a test
// calls killTerminals() after each test.
import { execFileSync } from 'node:child_process';

import { IOTRACE, ROOT, sleep } from './harness';

const sockets: string[] = [];

export function tmux(sock: string, ...args: string[]): string {
  return execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
}

/** A new tmux server's socket name, killed by killTerminals(). */
export function newSocket(tag: string = Math.random().toString(36).slice(2, 8)): string {
  const sock = `iotrace-test-${process.pid}-${tag}`;
  sockets.push(sock);
  return sock;
}

/** A detached tmux session of cols × rows running `iotrace cmd` in cwd (ROOT by default). */
export function terminal(cmd: string, cols = 120, rows = 40, env: Record<string, string> = {}, cwd = ROOT): string {
  const sock = newSocket();
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
  // The shell stays after iotrace ends so that its last words can be read.
  tmux(sock, 'new-session', '-d', '-x', String(cols), '-y', String(rows), '-c', cwd, `${vars}node ${IOTRACE} ${cmd}; echo "EXIT=$?"; sleep 600`);
  return sock;
}

/** The visible screen; with history, also what scrolled off above it. */
export function screen(sock: string, history = false): string {
  return tmux(sock, 'capture-pane', '-p', ...(history ? ['-S', '-1000'] : []));
}

export async function waitScreen(sock: string, re: RegExp, timeoutMs = 30000, history = false): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = screen(sock, history);
    if (re.test(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${re} on the screen:\n${last}`);
}

export function keys(sock: string, ...k: string[]): void {
  tmux(sock, 'send-keys', ...k);
}

export function killTerminals(): void {
  for (const s of sockets.splice(0)) {
    try {
      execFileSync('tmux', ['-L', s, 'kill-server'], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
