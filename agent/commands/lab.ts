// SPDX-License-Identifier: MIT
// `iotrace lab`: the reference servers, one per I/O model, run under load and
// traced, to learn what each model looks like from outside.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

import { InvalidArgumentError, type Command } from 'commander';

import type { Dashboard } from '../../dashboard/dashboard';
import type { BackendChoice } from '../backend';
import { IotraceError } from '../errors';
import { fmtBytes, fmtInt, formatLiveLine, formatSummary } from '../format';
import { checkClassification, checkSignature, findModel, LAB_MODELS, LOAD_BINARY, type LabModel } from '../lab/models';
import { runLab, type LabRunResult, type LoadResult } from '../lab/run-lab';
import type { Summary } from '../summary';
import type { ListenAddress } from '../exporters/listen-address';
import type { ExportedTarget } from '../exporters/prometheus';
import { backendOption, checkEventsOptions, eventsMaxOption, eventsOption, parseInterval, parseSeconds, prometheusOption } from './options';
import { startExporter } from './trace';

interface LabCliOptions {
  backend: BackendChoice;
  list?: boolean;
  target?: string;
  http?: string;
  duration: number;
  connections: number;
  interval: number;
  record?: string;
  events?: boolean;
  eventsMax?: number;
  json?: boolean;
  ui: boolean;
  prometheus?: ListenAddress;
}

function parseConnections(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1024) throw new InvalidArgumentError('1 to 1024 connections.');
  return n;
}

function truthLine(m: LabModel): string {
  const t = m.truth;
  return `wait ${t.wait.join('+')}${t.epollTrigger ? ` (${t.epollTrigger})` : ''}, data ${t.data.join('+')}, ${t.concurrency.join('+')}`;
}

/** The evidence iotrace saw, in one line: where the time went and how bytes moved. */
export function observedLine(s: Summary): string {
  const total = s.syscalls.reduce((n, c) => n + c.totalNs, 0) || 1;
  const top = s.syscalls
    .slice(0, 3)
    .map((c) => `${c.name} ${Math.round((100 * c.totalNs) / total)}% (${fmtInt(c.calls)})`)
    .join(', ');
  const reads = s.syscalls.filter((c) => c.cls === 'data.read' || c.cls === 'net.accept');
  const readCalls = reads.reduce((n, c) => n + c.calls, 0);
  const eagain = reads.reduce((n, c) => n + c.eagain, 0);
  const procs = s.processes.length;
  const threads = s.threads.length;
  return (
    `${top}; EAGAIN ${readCalls ? Math.round((100 * eagain) / readCalls) : 0}% of reads/accepts; ` +
    `copied ${fmtBytes(s.totals.bytesCopiedIn + s.totals.bytesCopiedOut)}, zero-copy ${fmtBytes(s.totals.bytesZeroCopy)}; ` +
    `${procs} process${procs === 1 ? '' : 'es'}, ${threads} thread${threads === 1 ? '' : 's'}`
  );
}

function signatureOf(r: LabRunResult): ReturnType<typeof checkSignature> {
  return checkSignature(r.model, new Map(r.session.summary.syscalls.map((c) => [c.name, c.calls])));
}

function signatureText(r: LabRunResult): string {
  const c = signatureOf(r);
  if (c.ok) return 'syscall signature matches';
  const parts: string[] = [];
  if (c.missing.length) parts.push(`never called ${c.missing.map((g) => g.join('|')).join(', ')}`);
  if (c.unexpected.length) parts.push(`called ${c.unexpected.map(([n, k]) => `${n}×${k}`).join(', ')}`);
  return `syscall signature MISMATCH: ${parts.join('; ')}`;
}

function classificationOf(r: LabRunResult): ReturnType<typeof checkClassification> {
  return checkClassification(r.model, r.session.summary.classification);
}

function classifiedText(r: LabRunResult): string {
  const c = r.session.summary.classification;
  const got = `wait ${c.wait.map((w) => w.label).join('+') || 'none'}${c.epollTrigger ? ` (${c.epollTrigger.label})` : ''}, data ${c.data.filter((d) => !d.minor).map((d) => d.label).join('+') || 'none'}, ${c.concurrency.map((x) => x.label).join('+') || 'none'}`;
  const check = classificationOf(r);
  return `classified: ${got} — ${check.ok ? 'matches' : `MISMATCH in ${check.mismatches.map((x) => x.what).join(', ')}`}`;
}

function loadText(r: LabRunResult): string {
  if (!r.load) return `load: ${r.loadError ?? 'no result'}`;
  const l = r.load;
  const errs = Object.values(l.errors).reduce((a, b) => a + b, 0);
  return `load: ${fmtInt(l.requestsPerSec)} req/s over ${l.connections} connections (traced), p50 ${l.p50Us} µs, p99 ${l.p99Us} µs, ${errs} errors`;
}

function jsonOf(r: LabRunResult): object {
  return {
    model: r.model.name,
    summary: r.model.summary,
    truth: r.model.truth,
    server: { pid: r.pid, pgid: r.pgid, port: r.port },
    signature: signatureOf(r),
    classification: classificationOf(r),
    load: r.load,
    loadError: r.loadError,
    trace: r.session.summary,
  };
}

/** `iotrace lab load`: the lab's load generator on its own, against any server on 127.0.0.1. */
async function runLoadOnly(opts: LabCliOptions): Promise<void> {
  if (!opts.target) throw new IotraceError('EUSAGE', "'iotrace lab load' needs --target 127.0.0.1:PORT", 2);
  if (!/^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost):\d{1,5}$/.test(opts.target)) {
    throw new IotraceError('EUSAGE', `--target ${opts.target}: the lab loads only 127.0.0.0/8 (host:port)`, 2);
  }
  const bin = LOAD_BINARY();
  if (!fs.existsSync(bin)) throw new IotraceError('ELAB', `${bin} is not built; run "npm run build"`);
  const args = ['--target', opts.target, '--connections', String(opts.connections), '--duration', String(opts.duration)];
  if (opts.http) args.push('--http', opts.http);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  // Ctrl-C goes to the generator too (same process group); it then reports what it has.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  process.off('SIGINT', ignore);
  const line = out.trim().split('\n').pop() ?? '';
  if (opts.json) process.stdout.write(line + '\n');
  else {
    try {
      const r = JSON.parse(line) as LoadResult;
      const errs = Object.entries(r.errors).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
      process.stdout.write(
        `${fmtInt(r.requests)} requests in ${r.seconds.toFixed(2)} s over ${r.connections} connections: ${fmtInt(r.requestsPerSec)} req/s, ` +
          `p50 ${r.p50Us} µs, p99 ${r.p99Us} µs, max ${r.maxUs} µs, ${fmtBytes(r.bytes)} checked; errors: ${errs}\n`,
      );
    } catch {
      if (code === 0) throw new IotraceError('ELAB', 'the load generator printed no result');
    }
  }
  process.exitCode = code;
}

export function registerLab(program: Command): void {
  program
    .command('lab')
    .description('run a reference server for an I/O model under load and trace it; no model: a tour of all')
    .argument('[model]', "a model from --list, or 'load' to run only the load generator")
    .option('--list', 'list the models')
    .option('--target <host:port>', "with 'load': the server to load (127.0.0.0/8 only)")
    .option('--http <path>', "with 'load': HTTP GET of this path (/4096, /file) instead of echo lines")
    .addOption(backendOption())
    .option('-d, --duration <seconds>', 'how long to trace each server', parseSeconds, 5)
    .option('-c, --connections <n>', 'load connections', parseConnections, 16)
    .option('-i, --interval <seconds>', 'snapshot interval', parseInterval, 1)
    .option('-r, --record <file>', 'record the session (one model only)')
    .addOption(eventsOption())
    .addOption(eventsMaxOption())
    .option('--json', 'print the result as JSON on stdout')
    .option('--no-ui', 'no live view, only the summary')
    .addOption(prometheusOption())
    .addHelpText(
      'after',
      `
Servers listen on 127.0.0.1 only; the load is bounded by --duration.

Examples:
  iotrace lab --list
  iotrace lab select --duration 3        the select server, traced for 3 s under load
  iotrace lab                            a 2-second tour of every model
  iotrace lab sendfile --json | jq .trace.totals
  iotrace lab epoll-lt --duration 60 --prometheus 9464
                                         the epoll server's metrics on 127.0.0.1:9464/metrics
  iotrace lab load --target 127.0.0.1:8080 --connections 32 --duration 5 --http /4096
                                         only the load: requests/s, p50/p99, every byte checked`,
    )
    .action(async (name: string | undefined, opts: LabCliOptions) => {
      if (name === 'load') {
        await runLoadOnly(opts);
        return;
      }
      if (opts.target || opts.http) throw new IotraceError('EUSAGE', "--target and --http go with 'iotrace lab load'", 2);
      if (opts.list) {
        const w = Math.max(...LAB_MODELS.map((m) => m.name.length));
        for (const m of LAB_MODELS) process.stdout.write(`${m.name.padEnd(w)}  ${m.summary}\n`);
        return;
      }
      const models = name ? [findModel(name)] : LAB_MODELS;
      if (models[0] === undefined) {
        throw new IotraceError('EUSAGE', `no lab model "${name}"; iotrace lab --list shows them`, 2);
      }
      if (!name && opts.record) throw new IotraceError('EUSAGE', '--record needs one model', 2);
      checkEventsOptions(opts);
      const tour = !name;
      // The dashboard on a terminal; the live line when only stderr is one.
      const ui = !opts.json && opts.ui && process.stdout.isTTY === true && !tour;
      const live = !ui && !opts.json && opts.ui && process.stderr.isTTY === true && !tour;
      // One exporter for the whole tour, bound before any server starts: each
      // server is a target of its own (pid, comm).
      const exporter = await startExporter(opts.prometheus);
      let dash: Dashboard | undefined;
      let stopNow: ((reason: string) => void) | undefined;
      let interrupted = false;
      const onSignal = (sig: NodeJS.Signals): void => {
        interrupted = true;
        stopNow?.(sig);
      };
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
      const results: LabRunResult[] = [];
      // blessed is loaded only for a dashboard, never by --no-ui or --json runs.
      const dashboards = ui ? await import('./live-dashboard') : undefined;
      try {
        for (const m of models as LabModel[]) {
          if (interrupted) break;
          process.stderr.write(`iotrace lab: ${m.name}: ${m.summary}\n`);
          let r: LabRunResult;
          let exported: ExportedTarget | undefined;
          try {
            r = await runLab({
              model: m,
              backend: opts.backend,
              durationSec: tour && opts.duration === 5 ? 2 : opts.duration,
              connections: opts.connections,
              intervalSec: opts.interval,
              record: opts.record,
              events: opts.events === true,
              eventsMax: opts.eventsMax,
              warn: (msg) => (dash ? dash.notify(`warning: ${msg}`) : process.stderr.write(`iotrace: warning: ${msg}\n`)),
              onSnapshot: (cur, prev) => {
                exported?.update(cur);
                if (ui) dash?.push(cur);
                else if (live) process.stderr.write(formatLiveLine(cur, prev) + '\n');
              },
              onStoppable: (stop) => (stopNow = stop),
              // Raw mode turns Ctrl-C into a key: q and Ctrl-C take SIGINT's path.
              onSession: (session) => {
                exported = exporter?.add(session.header);
                if (dashboards) dash = dashboards.openLiveDashboard(session, () => onSignal('SIGINT'));
              },
            });
          } finally {
            dash?.close();
            dash = undefined;
          }
          exported?.end(r.session.snapshot);
          results.push(r);
          if (!opts.json && !tour) {
            process.stdout.write(`${m.name}: ${m.summary}\n  is:       ${truthLine(m)}\n  ${classifiedText(r)}\n  ${signatureText(r)}\n  ${loadText(r)}\n\n`);
            process.stdout.write(formatSummary(r.session.summary));
          }
          if (!opts.json && tour) {
            process.stdout.write(`${m.name}\n  is:       ${truthLine(m)}\n  ${classifiedText(r)}\n  observed: ${observedLine(r.session.summary)}\n  ${signatureText(r)}; ${loadText(r)}\n`);
          }
        }
      } finally {
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
        await exporter?.close();
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify(tour ? results.map(jsonOf) : jsonOf(results[0]), null, 2) + '\n');
      }
      const bad = results.some((r) => !signatureOf(r).ok || !r.load || Object.values(r.load.errors).some((n) => n > 0));
      if (bad) process.exitCode = 1;
    });
}
