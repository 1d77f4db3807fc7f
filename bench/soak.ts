// SPDX-License-Identifier: MIT
// `npm run soak`: iotrace attached, with its dashboard in a real terminal
// (tmux, 120×40), to the lab's epoll-et server under the lab load on
// 127.0.0.1 for --minutes (default 10). Every second: iotrace's VmRSS, the
// syscalls/s its dashboard shows, the server's read+write calls/s from
// /proc/<pid>/io (a count iotrace does not make) and the drops the header
// shows. Writes bench/results/soak-<date>-<backend>.{json,md}; exits 1 if
// the RSS passed RSS_BOUND_MIB or kept growing (docs/limits.md).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Background, killRunning, ROOT, sleep } from './proc';

/**
 * The RSS iotrace holds with the dashboard on under this load, both backends
 * (docs/limits.md): measured 77–92 MiB with bin/iotrace's limits on V8's young
 * generation and glibc's arenas; without them the young generation alone
 * added up to 30 MiB, which this bound catches.
 */
const RSS_BOUND_MIB = 120;
/**
 * Growth past warm-up that fails the soak, from a least-squares line through
 * the samples. The heap's collection sawtooth (±5 MiB every few tens of
 * seconds) moves a line over minutes by far less; a real leak of 1 MiB/min
 * would take the measured ~90 MiB past the bound within the hour.
 */
const SLOPE_LIMIT_KIB_PER_MIN = 1024;
/** Shorter slope windows are sawtooth, not trend: reported, not judged. */
const SLOPE_MIN_WINDOW_MIN = 3;
const LOAD_CONNECTIONS = 16;
/** The lab load's own limit (native/lab/load.c MAX_DURATION_S): restarted until the end. */
const LOAD_MAX_SEC = 600;
const COLS = 120;
const ROWS = 40;

interface Sample {
  tSec: number;
  rssKiB: number;
  /** The dashboard header's figure; null while it shows none. */
  syscallsPerSec: number | null;
  /** read+write calls of the server per second, from /proc/<pid>/io, over intervalSec. */
  serverRwPerSec: number;
  /** Time since the previous sample: above 1 s when this process or the tmux it asks was held up. */
  intervalSec: number;
  dropped: number;
}

interface Options {
  minutes: number;
  backend: 'ebpf' | 'ptrace';
}

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: 10, backend: 'ebpf' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--minutes' && v && Number(v) > 0) {
      o.minutes = Number(v);
      i++;
    } else if (a === '--backend' && (v === 'ebpf' || v === 'ptrace')) {
      o.backend = v;
      i++;
    } else {
      process.stderr.write('usage: npm run soak -- [--minutes N] [--backend ebpf|ptrace]\n');
      process.exit(2);
    }
  }
  return o;
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den ? num / den : 0;
}

function statusKiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function serverRw(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^syscr: (\d+)/m.exec(io)?.[1] ?? 0) + Number(/^syscw: (\d+)/m.exec(io)?.[1] ?? 0);
}

class Terminal {
  readonly sock = `iotrace-soak-${process.pid}`;

  constructor(cmd: string) {
    this.tmux('new-session', '-d', '-x', String(COLS), '-y', String(ROWS), '-c', ROOT, `${cmd}; echo "EXIT=$?"; sleep 600`);
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.sock, ...args], { encoding: 'utf8' });
  }

  screen(history = false): string {
    return this.tmux('capture-pane', '-p', ...(history ? ['-S', '-2000'] : []));
  }

  async waitFor(re: RegExp, timeoutMs: number, what: string): Promise<string> {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      last = this.screen(true);
      if (re.test(last)) return last;
      await sleep(200);
    }
    throw new Error(`${what}: no ${re} on the screen within ${timeoutMs} ms:\n${last}`);
  }

  /** iotrace: the only child of the pane's shell, which stays to show its exit. */
  iotracePid(): number {
    const shell = this.tmux('display-message', '-p', '#{pane_pid}').trim();
    const kids = spawnSync('pgrep', ['-P', shell], { encoding: 'utf8' }).stdout.trim().split('\n');
    if (kids.length !== 1 || !Number(kids[0])) throw new Error(`expected one process under the pane's shell ${shell}, found: ${kids.join(' ')}`);
    return Number(kids[0]);
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.sock, 'kill-server'], { stdio: 'ignore' });
  }
}

/** The lab load, started again whenever it reaches its own time limit, until stop(). */
class Load {
  private cur: Background | undefined;
  private stopped = false;
  runs = 0;
  errors = 0;
  private readonly loop: Promise<void>;

  constructor(port: number, untilMs: number) {
    this.loop = (async () => {
      while (!this.stopped && Date.now() < untilMs) {
        const sec = Math.max(1, Math.min(LOAD_MAX_SEC, Math.ceil((untilMs - Date.now()) / 1000)));
        this.cur = new Background(path.join(ROOT, 'native', 'lab', 'bin', 'load'), [
          '--target', `127.0.0.1:${port}`, '--connections', String(LOAD_CONNECTIONS), '--duration', String(sec),
        ]);
        this.runs++;
        await this.cur.exited();
        const r = JSON.parse(this.cur.out.trim().split('\n').pop() || '{}') as { errors?: Record<string, number> };
        this.errors += Object.values(r.errors ?? {}).reduce((a, b) => a + b, 0);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cur?.stop('SIGINT');
    await this.loop;
  }
}

async function soak(o: Options): Promise<number> {
  const totalSec = Math.round(o.minutes * 60);
  const warmSec = Math.min(60, Math.round(totalSec / 5));
  const slopeFromSec = Math.max(warmSec, totalSec - 8 * 60);
  process.stderr.write(`soak: ${o.minutes} min under ${o.backend}, dashboard in a ${COLS}×${ROWS} tmux\n`);

  const server = new Background(path.join(ROOT, 'native', 'lab', 'bin', 'epoll-et'), ['--port', '0']);
  await server.waitFor(/port=\d+/, 5000, 'the lab epoll-et server');
  const port = Number(/port=(\d+)/.exec(server.out + server.err)?.[1]);
  const serverPid = server.child.pid ?? 0;
  const load = new Load(port, Date.now() + (totalSec + 30) * 1000);
  // The launcher a user runs, with the node flags it sets (bin/iotrace).
  const term = new Terminal(`${path.join(ROOT, 'bin', 'iotrace')} attach ${serverPid} --backend ${o.backend}`);
  const samples: Sample[] = [];
  let late = 0;
  let endScreen = '';
  try {
    await term.waitFor(/syscalls\/s/, 30_000, 'the dashboard');
    const pid = term.iotracePid();
    let rw = serverRw(serverPid);
    const t0 = Date.now();
    let tPrev = t0;
    for (let i = 1; i <= totalSec; i++) {
      // A tick missed while this process or tmux was held up (a starved machine stalled tmux for
      // 146 s once) is skipped, not caught up: back-to-back catch-up samples 40 ms apart read as
      // the server serving 200 calls/s and the header frozen for a minute.
      if (Date.now() > t0 + i * 1000 + 500) {
        late++;
        continue;
      }
      await sleep(t0 + i * 1000 - Date.now());
      const header = term.screen().split('\n').slice(0, 3).join(' ');
      const rate = /([\d,]+) syscalls\/s/.exec(header);
      const drop = /dropped ([\d,]+)/.exec(header);
      const rwNow = serverRw(serverPid);
      const tNow = Date.now();
      const intervalSec = Math.max(0.001, (tNow - tPrev) / 1000);
      samples.push({
        tSec: (tNow - t0) / 1000,
        rssKiB: statusKiB(pid, 'VmRSS'),
        syscallsPerSec: rate ? Number(rate[1]!.replace(/,/g, '')) : null,
        serverRwPerSec: Math.round((rwNow - rw) / intervalSec),
        intervalSec,
        dropped: drop ? Number(drop[1]!.replace(/,/g, '')) : 0,
      });
      rw = rwNow;
      tPrev = tNow;
      if (i % 60 === 0 && samples.length) {
        const s = samples[samples.length - 1]!;
        process.stderr.write(`soak: ${i / 60} min, RSS ${(s.rssKiB / 1024).toFixed(1)} MiB, ${s.syscallsPerSec ?? '?'} syscalls/s\n`);
      }
    }
    term.tmux('send-keys', 'q');
    endScreen = await term.waitFor(/EXIT=\d+/, 30_000, 'iotrace to end after q');
  } finally {
    term.kill();
    await load.stop();
    await server.stop('SIGTERM');
  }

  const kib = samples.map((s) => s.rssKiB);
  const warm = samples.find((s) => s.tSec >= warmSec) ?? samples[samples.length - 1]!;
  const tail = samples.filter((s) => s.tSec >= slopeFromSec);
  const slopeKiBPerMin = slope(tail.map((s) => s.tSec / 60), tail.map((s) => s.rssKiB));
  const rates = samples.map((s) => s.syscallsPerSec).filter((r): r is number => r !== null && r > 0);
  const judgedSlope = (totalSec - slopeFromSec) / 60 >= SLOPE_MIN_WINDOW_MIN;
  const maxKiB = Math.max(...kib);
  const failures: string[] = [];
  if (maxKiB > RSS_BOUND_MIB * 1024) failures.push(`RSS reached ${(maxKiB / 1024).toFixed(1)} MiB, above the ${RSS_BOUND_MIB} MiB bound`);
  if (judgedSlope && slopeKiBPerMin > SLOPE_LIMIT_KIB_PER_MIN) {
    failures.push(`RSS grew ${Math.round(slopeKiBPerMin)} KiB/min after warm-up, above ${SLOPE_LIMIT_KIB_PER_MIN}`);
  }
  const exit = /EXIT=(\d+)/.exec(endScreen)?.[1];
  if (exit !== '0') failures.push(`iotrace exited ${exit ?? '?'}`);
  if (load.errors) failures.push(`the load saw ${load.errors} errors`);
  const notCounted = /^not counted: .*$/m.exec(endScreen)?.[0] ?? '';

  const result = {
    date: new Date().toISOString(),
    backend: o.backend,
    minutes: o.minutes,
    host: { cpus: os.cpus().length, kernel: os.release() },
    workload: `lab epoll-et under the lab load (${LOAD_CONNECTIONS} connections), iotrace attach with the dashboard at ${COLS}×${ROWS}`,
    boundMiB: RSS_BOUND_MIB,
    slopeLimitKiBPerMin: SLOPE_LIMIT_KIB_PER_MIN,
    rssKiB: { start: kib[0] ?? 0, afterWarmUp: warm.rssKiB, warmUpSec: warmSec, max: maxKiB, end: kib[kib.length - 1] ?? 0 },
    slopeKiBPerMin: Math.round(slopeKiBPerMin),
    slopeWindowSec: [slopeFromSec, totalSec],
    slopeJudged: judgedSlope,
    syscallsPerSec: { median: Math.round(median(rates)), min: rates.length ? Math.min(...rates) : 0 },
    serverReadWritePerSec: { median: Math.round(median(samples.map((s) => s.serverRwPerSec))) },
    ticksLate: late,
    longestIntervalSec: Math.max(0, ...samples.map((s) => s.intervalSec)),
    droppedMax: Math.max(0, ...samples.map((s) => s.dropped)),
    notCounted,
    loadRuns: load.runs,
    failures,
    samples,
  };
  const day = result.date.slice(0, 10);
  const base = path.join(ROOT, 'bench', 'results', `soak-${day}-${o.backend}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
  const mib = (k: number): string => (k / 1024).toFixed(1);
  const md = [
    `# Soak: ${o.minutes} min under ${o.backend} (${result.date})`,
    '',
    `${result.workload}; ${result.host.cpus} CPUs (shared), kernel ${result.host.kernel}. \`npm run soak -- --minutes ${o.minutes} --backend ${o.backend}\`.`,
    '',
    '| | |',
    '|---|---|',
    `| RSS at start | ${mib(result.rssKiB.start)} MiB |`,
    `| RSS after warm-up (${warmSec} s) | ${mib(result.rssKiB.afterWarmUp)} MiB |`,
    `| RSS max | ${mib(result.rssKiB.max)} MiB (bound ${RSS_BOUND_MIB} MiB) |`,
    `| RSS at end | ${mib(result.rssKiB.end)} MiB |`,
    `| RSS slope, ${slopeFromSec}–${totalSec} s | ${result.slopeKiBPerMin} KiB/min (${judgedSlope ? `limit ${SLOPE_LIMIT_KIB_PER_MIN}` : `not judged: window under ${SLOPE_MIN_WINDOW_MIN} min`}) |`,
    `| syscalls/s (dashboard) | median ${result.syscallsPerSec.median.toLocaleString('en-US')}, min ${result.syscallsPerSec.min.toLocaleString('en-US')} |`,
    `| server read+write/s (/proc/pid/io) | median ${result.serverReadWritePerSec.median.toLocaleString('en-US')} |`,
    `| sampler ticks missed (machine held it or tmux up) | ${result.ticksLate}, longest interval ${result.longestIntervalSec.toFixed(1)} s |`,
    `| drops (header) | ${result.droppedMax} |`,
    `| not counted (summary) | ${notCounted || 'nothing'} |`,
    '',
    failures.length ? `**FAILED**: ${failures.join('; ')}` : 'Passed: RSS within the bound and not growing.',
    '',
  ].join('\n');
  fs.writeFileSync(`${base}.md`, md);
  process.stdout.write(md);
  process.stderr.write(`soak: wrote ${path.relative(ROOT, base)}.{json,md}\n`);
  return failures.length ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killRunning();
    spawnSync('tmux', ['-L', `iotrace-soak-${process.pid}`, 'kill-server'], { stdio: 'ignore' });
    process.exit(130);
  });
}

soak(parseArgs(process.argv.slice(2))).then(
  (code) => process.exit(code),
  (err: unknown) => {
    killRunning();
    process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
