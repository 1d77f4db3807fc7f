// SPDX-License-Identifier: MIT
// The dashboard in a real terminal: tmux runs iotrace, send-keys presses
// keys, capture-pane reads the screen. Every wait is bounded; every tmux
// server started here is killed after each test.
import { afterEach, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findModel, serverCommand } from '../agent/lab/models';
import { assertRunningUntraced, iotraceDone, killAll, ROOT, sleep, start, validateRecording } from './harness';
import { keys, killTerminals, screen, terminal, tmux, waitScreen } from './terminal';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'epoll-small.json');

afterEach(() => {
  killTerminals();
  killAll();
});
after(() => {
  killTerminals();
  killAll();
});

describe('live dashboard', () => {
  it('lab epoll-lt: the verdict says epoll, the table shows epoll_wait, ? opens the help, q ends with the summary', async () => {
    const sock = terminal('lab epoll-lt --duration 60');
    const s = await waitScreen(sock, /verdict[\s\S]*epoll \d+% \(level-triggered\)/);
    assert.match(s, /│[ ›]epoll_wait +[\d,]+/, 'a table row for epoll_wait');
    // As root, auto picks eBPF.
    assert.match(s, /backend ebpf/);
    assert.match(s, /threads: who waits where/);
    keys(sock, '?');
    await waitScreen(sock, /help: keys[\s\S]*cycle the syscall sort/, 5000);
    keys(sock, 'Escape');
    await waitScreen(sock, /^(?![\s\S]*help: keys)/, 5000);
    keys(sock, 's');
    await waitScreen(sock, /sort: time/, 5000);
    keys(sock, 'q');
    // The screen is torn down first, then the lab's own report and the summary.
    const end = await waitScreen(sock, /EXIT=0/, 30000, true);
    assert.match(end, /classified: wait epoll/);
    assert.match(end, /ended by SIGINT/);
    assert.doesNotMatch(screen(sock), /┌─ verdict/, 'the dashboard is gone');
  });

  it('attach --backend ptrace: q detaches and the server runs on, untraced', async () => {
    const m = findModel('epoll-lt');
    assert.ok(m);
    const cmd = serverCommand(m);
    const server = start(cmd.file, [...cmd.args, '--port', '0']);
    await server.waitFor(/port=\d+/);
    // ptrace: the backend whose detach leaves a trace to check (TracerPid, stopped threads).
    const sock = terminal(`attach --backend ptrace ${server.pid}`);
    await waitScreen(sock, new RegExp(`pid ${server.pid} .*backend ptrace`));
    await waitScreen(sock, /syscalls\/s/);
    keys(sock, 'q');
    const end = await waitScreen(sock, /EXIT=0/);
    assert.match(end, /ended by SIGINT/);
    await sleep(200);
    assertRunningUntraced(server.pid);
  });

  it('Ctrl-C ends the session like SIGINT, and r records a file that report reads', async () => {
    const m = findModel('epoll-lt');
    assert.ok(m);
    const cmd = serverCommand(m);
    const server = start(cmd.file, [...cmd.args, '--port', '0']);
    await server.waitFor(/port=\d+/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-dash-'));
    const sock = terminal(`attach ${server.pid}`, 120, 40, {}, dir);
    await waitScreen(sock, /recording off/);
    keys(sock, 'r');
    const name = /recording to (iotrace-\d+-\d{8}-\d{6}\.json)/;
    const rec = await waitScreen(sock, name, 5000);
    assert.match(rec, /REC iotrace-/);
    const file = path.join(dir, name.exec(rec)?.[1] ?? '');
    await sleep(1500);
    keys(sock, 'C-c');
    await waitScreen(sock, /EXIT=0/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    // Not a --record file, so the harness does not see it: checked here.
    const lines = validateRecording(file);
    assert.equal((lines[lines.length - 1] as { type: string }).type, 'summary');
    const r = await iotraceDone(['report', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wait +epoll/);
    assertRunningUntraced(server.pid);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a 70×20 terminal keeps header, verdict and syscall table; NO_COLOR leaves no colour', async () => {
    const sock = terminal('lab epoll-lt --duration 60', 70, 20, { NO_COLOR: '1' });
    const s = await waitScreen(sock, /verdict[\s\S]*epoll[\s\S]*syscalls \(sort/);
    assert.doesNotMatch(s, /latency|threads: who|data path/, 'the small layout has only the main panels');
    for (const line of s.split('\n')) assert.ok(line.length <= 70, `line wider than the terminal: ${line}`);
    const styled = tmux(sock, 'capture-pane', '-p', '-e');
    assert.doesNotMatch(styled, /\x1b\[(?:3[0-7]|4[0-7]|9[0-7]|38;|48;)/, 'a colour escape under NO_COLOR');
    keys(sock, 'q');
    await waitScreen(sock, /EXIT=0/);
  });
});

describe('replay', () => {
  it('the fixture plays in the dashboard; space stops, n and b step, q quits', async () => {
    const sock = terminal(`replay ${FIXTURE} --speed 0.25`);
    await waitScreen(sock, /replay of[\s\S]*epoll \d+%[\s\S]*epoll_wait/);
    keys(sock, 'Space');
    const stopped = await waitScreen(sock, /stopped ([\d.]+)\/4\.0 s \(snapshot (\d)\/8\)/, 5000);
    const at = Number(/snapshot (\d)\/8/.exec(stopped)?.[1]);
    keys(sock, 'n', 'n');
    const ahead = await waitScreen(sock, new RegExp(`stopped ([\\d.]+)/4\\.0 s \\(snapshot ${at + 2}/8`), 5000);
    assert.ok(Number(/stopped ([\d.]+)/.exec(ahead)?.[1]) > Number(/stopped ([\d.]+)/.exec(stopped)?.[1]), 'the shown time moved on');
    keys(sock, 'b');
    await waitScreen(sock, new RegExp(`snapshot ${at + 1}/8`), 5000);
    keys(sock, 'End');
    await waitScreen(sock, /stopped 4\.0\/4\.0 s \(snapshot 8\/8\)/, 5000);
    keys(sock, 'q');
    await waitScreen(sock, /EXIT=0/, 10000);
  });

  it('--no-ui prints one line per snapshot from --from on', async () => {
    const all = await iotraceDone(['replay', FIXTURE, '--no-ui']);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trim().split('\n');
    assert.equal(lines.length, 8);
    assert.match(lines[0], /^\s*0\.5s\s+[\d,]+ syscalls\/s\s+wait [\d,]+/);
    const late = await iotraceDone(['replay', FIXTURE, '--no-ui', '--from', '2']);
    assert.equal(late.stdout.trim().split('\n').length, 5);
  });

  it('a corrupt line is an error naming it, without a stack, exit ≠ 0', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-replay-'));
    const bad = path.join(dir, 'bad.json');
    const lines = fs.readFileSync(FIXTURE, 'utf8').split('\n');
    lines[3] = '{"type":"snapshot", oops';
    fs.writeFileSync(bad, lines.join('\n'));
    for (const extra of [['--no-ui'], []]) {
      const r = await iotraceDone(['replay', bad, ...extra]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /bad\.json: line 4: not valid JSON/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
