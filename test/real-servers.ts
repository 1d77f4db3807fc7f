// SPDX-License-Identifier: MIT
// Real Debian servers for tests: nginx and redis-server, each an isolated
// instance on 127.0.0.1 with a free port and its own temp dir, started in the
// foreground so the test owns its pid; and their usual load generators, wrk
// and redis-benchmark, bounded in time and count. Every server started here
// runs in its own process group and is stopped, group and all, by stop() or
// stopAllServers(), and its temp dir removed, whatever happens.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { descendants } from '../agent/target';
import { sleep, start } from './harness';

export const NGINX = '/usr/sbin/nginx';
export const REDIS_SERVER = '/usr/bin/redis-server';
export const WRK = '/usr/bin/wrk';
export const REDIS_BENCHMARK = '/usr/bin/redis-benchmark';

/** The files nginx serves: name → size in bytes. */
export const NGINX_FILES = { '4k.bin': 4096, '256k.bin': 256 * 1024 } as const;
export type NginxFile = keyof typeof NGINX_FILES;

/** The binaries this module needs that are missing (scripts/setup.sh installs them). */
export function missingBinaries(): string[] {
  return [NGINX, REDIS_SERVER, WRK, REDIS_BENCHMARK].filter((f) => !fs.existsSync(f));
}

const stoppers = new Set<() => Promise<void>>();

/** Stops every server started here that is still running, and removes their temp dirs. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...stoppers].map((s) => s()));
}

/** A port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function tryConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

interface Launched {
  child: ChildProcess;
  pid: number;
  /** stderr and stdout so far, for error messages. */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts a server as the leader of a new process group (so its workers can be
 * stopped with it even once they are orphans), registered for stopAllServers.
 * stop(): SIGTERM to the group, SIGKILL after graceMs, then the temp dir goes.
 */
function launch(file: string, args: string[], dir: string, graceMs = 3000): Launched {
  const child = spawn(file, args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  child.on('exit', () => (exited = true));
  child.on('error', (e) => ((out += `spawn error: ${e.message}\n`), (exited = true)));
  const pid = child.pid ?? -1;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const group = (sig: NodeJS.Signals): void => {
        try {
          if (pid > 0) process.kill(-pid, sig);
        } catch {
          // group gone
        }
      };
      // Workers that outlive their master are still in its group.
      const members = pid > 0 ? [pid, ...descendants(pid)] : [];
      group('SIGTERM');
      const deadline = Date.now() + graceMs;
      while (members.some(alive) && Date.now() < deadline) await sleep(20);
      group('SIGKILL');
      for (const m of members) {
        try {
          if (alive(m)) process.kill(m, 'SIGKILL');
        } catch {
          // gone
        }
      }
      while (!exited && Date.now() < deadline + 2000) await sleep(20);
      fs.rmSync(dir, { recursive: true, force: true });
      stoppers.delete(stop);
    })());
  stoppers.add(stop);
  return { child, pid, output: () => out, exited: () => exited, stop };
}

/** Waits until 127.0.0.1:port accepts, failing early if the server exits. */
async function waitListening(l: Launched, port: number, what: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (l.exited()) throw new Error(`${what} exited before listening on ${port}: ${l.output().trim()}`);
    if (await tryConnect(port, 500)) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms: ${l.output().trim()}`);
}

/** Retries a start that may lose its free port to someone else in between. */
async function withFreePort<T>(startOn: (port: number) => Promise<T>, tries = 3): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await startOn(await freePort());
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

// ---------------------------------------------------------------- nginx

export interface NginxOptions {
  workers: number;
  sendfile: boolean;
}

export interface NginxServer {
  masterPid: number;
  workerPids: number[];
  port: number;
  dir: string;
  conf: string;
  stop(): Promise<void>;
}

export function nginxConfig(o: NginxOptions & { dir: string; port: number }): string {
  const t = (p: string): string => path.join(o.dir, p);
  return `# generated by test/real-servers.ts
daemon off;
master_process on;
worker_processes ${o.workers};
pid ${t('nginx.pid')};
error_log ${t('error.log')} warn;

events {
    worker_connections 256;
}

http {
    access_log off;
    default_type application/octet-stream;
    sendfile ${o.sendfile ? 'on' : 'off'};
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path ${t('client_body')};
    proxy_temp_path ${t('proxy')};
    fastcgi_temp_path ${t('fastcgi')};
    uwsgi_temp_path ${t('uwsgi')};
    scgi_temp_path ${t('scgi')};

    server {
        listen 127.0.0.1:${o.port};
        root ${t('www')};
    }
}
`;
}

/**
 * Starts nginx -c <conf> -p <tmp>: master in the foreground (daemon off), its
 * workers forked by it, both files under www/. Resolves once the port accepts,
 * all workers exist and a GET of each file is answered in full.
 */
export async function startNginx(o: NginxOptions): Promise<NginxServer> {
  return withFreePort(async (port) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-nginx-'));
    // The workers run as nginx's default user (nobody): they must read www/.
    fs.chmodSync(dir, 0o755);
    const www = path.join(dir, 'www');
    fs.mkdirSync(www, { mode: 0o755 });
    for (const [name, size] of Object.entries(NGINX_FILES)) {
      const buf = Buffer.alloc(size);
      for (let i = 0; i < size; i++) buf[i] = 0x61 + (i % 26);
      fs.writeFileSync(path.join(www, name), buf, { mode: 0o644 });
    }
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, nginxConfig({ ...o, dir, port }));
    // -e: the log nginx opens before it has read the config.
    const l = launch(NGINX, ['-e', path.join(dir, 'error.log'), '-c', conf, '-p', dir], dir);
    try {
      await waitListening(l, port, 'nginx');
      let workerPids: number[] = [];
      const deadline = Date.now() + 10000;
      while ((workerPids = descendants(l.pid)).length < o.workers) {
        if (Date.now() > deadline) throw new Error(`nginx has ${workerPids.length} of ${o.workers} workers: ${l.output()}`);
        await sleep(20);
      }
      for (const [name, size] of Object.entries(NGINX_FILES)) {
        const got = await httpGet(port, `/${name}`);
        if (got.status !== 200 || got.bytes !== size) throw new Error(`nginx GET /${name}: ${got.status}, ${got.bytes} bytes`);
      }
      return { masterPid: l.pid, workerPids, port, dir, conf, stop: l.stop };
    } catch (e) {
      await l.stop();
      throw e;
    }
  });
}

/** One GET on a fresh connection: status and body length. */
export function httpGet(port: number, urlPath: string, timeoutMs = 5000): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} on ${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------- redis

export interface RedisServer {
  pid: number;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** redis-server on 127.0.0.1, no persistence, in the foreground; resolves once it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  return withFreePort(async (port) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-redis-'));
    const l = launch(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', path.join(dir, 'redis.log')],
      dir,
    );
    try {
      await waitListening(l, port, 'redis-server');
      const pong = await redisPing(port);
      if (pong !== '+PONG') throw new Error(`redis-server answered PING with ${JSON.stringify(pong)}`);
      return { pid: l.pid, port, dir, stop: l.stop };
    } catch (e) {
      await l.stop();
      throw e;
    }
  });
}

/** Sends PING on a fresh connection and resolves with the reply line. */
export function redisPing(port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no PING reply on ${port} within ${timeoutMs} ms`))), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\r\n')) {
        clearTimeout(timer);
        sock.end();
        resolve(got.split('\r\n')[0]);
      }
    });
    sock.on('error', (e) => (clearTimeout(timer), reject(e)));
  });
}

// ---------------------------------------------------------------- load

export interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSec: number;
  /** Socket errors and non-2xx responses wrk reported. */
  errors: number;
  raw: string;
}

/** wrk -t1 -c<connections> -d<seconds>s against a path; bounded by its duration (and killed 15 s after it). */
export async function wrk(port: number, urlPath: string, seconds: number, connections = 8): Promise<WrkResult> {
  const p = start(WRK, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', `http://127.0.0.1:${port}${urlPath}`]);
  const e = await p.exited((seconds + 15) * 1000);
  const raw = p.stdout();
  if (e.code !== 0) throw new Error(`wrk exited ${JSON.stringify(e)}: ${p.stderr()}${raw}`);
  const m = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(raw);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(raw);
  if (!m || !rps) throw new Error(`cannot parse wrk output: ${raw}`);
  const unit = { ms: 0.001, s: 1, m: 60 }[m[3] as 'ms' | 's' | 'm'];
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(raw);
  const errors = (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { requests: Number(m[1]), seconds: Number(m[2]) * unit, requestsPerSec: Number(rps[1]), errors, raw };
}

export interface RedisBenchResult {
  /** Requests/s per test, e.g. { SET: 9000, GET: 9500 }. */
  rps: Record<string, number>;
  /** Requests per test (-n). */
  requests: number;
  raw: string;
}

/**
 * redis-benchmark -n <count> -c <connections> -t set,get -q: bounded by its
 * count, and killed after timeoutMs if the server is too slow.
 */
export async function redisBenchmark(port: number, count: number, connections = 8, timeoutMs = 30000): Promise<RedisBenchResult> {
  const p = start(REDIS_BENCHMARK, ['-h', '127.0.0.1', '-p', String(port), '-n', String(count), '-c', String(connections), '-t', 'set,get', '-q']);
  let e;
  try {
    e = await p.exited(timeoutMs);
  } catch (err) {
    p.child.kill('SIGKILL');
    throw err;
  }
  // -q prints progress lines ending in \r, then one line per test.
  const raw = p.stdout();
  if (e.code !== 0) throw new Error(`redis-benchmark exited ${JSON.stringify(e)}: ${p.stderr()}${raw}`);
  const rps: Record<string, number> = {};
  for (const line of raw.split(/[\r\n]+/)) {
    const m = /^(\w+): ([\d.]+) requests per second/.exec(line.trim());
    if (m) rps[m[1]] = Number(m[2]);
  }
  if (!rps.SET || !rps.GET) throw new Error(`cannot parse redis-benchmark output: ${raw}`);
  return { rps, requests: count, raw };
}
