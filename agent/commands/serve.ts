// SPDX-License-Identifier: MIT
// `iotrace serve --prometheus [host:]port --pid A --pid B`: one agent tracing
// several processes of a host, one session each, their metrics on one
// /metrics endpoint labelled by pid and comm.
import type { Command } from 'commander';

import type { BackendChoice } from '../backend';
import { EXIT_USAGE, IotraceError } from '../errors';
import type { ListenAddress } from '../exporters/listen-address';
import type { ExportedTarget } from '../exporters/prometheus';
import { fmtBytes, fmtInt } from '../format';
import { Session, type SessionResult } from '../session';
import type { Summary } from '../summary';
import { checkAttachable } from '../target';
import { backendOption, parseInterval, parsePid, parseSeconds, prometheusOption } from './options';
import { startExporter } from './trace';

interface ServeCliOptions {
  prometheus: ListenAddress;
  pid: number[];
  backend: BackendChoice;
  duration?: number;
  interval: number;
  children?: boolean;
  json?: boolean;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function collectPid(value: string, previous: number[]): number[] {
  return [...previous, parsePid(value)];
}

/** One line per target for the end: what it did and what it is. */
export function serveLine(s: Summary): string {
  const c = s.classification;
  const model = [
    `wait ${c.wait.map((w) => w.label).join('+') || 'none'}${c.epollTrigger ? ` (${c.epollTrigger.label})` : ''}`,
    `data ${c.data.filter((d) => !d.minor).map((d) => d.label).join('+') || 'none'}`,
    c.concurrency.map((x) => x.label).join('+') || 'concurrency unknown',
  ].join(', ');
  const t = s.totals;
  return (
    `pid ${s.target.pid} (${s.target.comm}): ${fmtInt(t.calls)} syscalls in ${(s.durationNs / 1e9).toFixed(1)} s via ${s.backend}, ` +
    `copied in ${fmtBytes(t.bytesCopiedIn)}, out ${fmtBytes(t.bytesCopiedOut)}, zero-copy ${fmtBytes(t.bytesZeroCopy)}; ${model}; ended: ${s.endReason}`
  );
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('trace several processes from one agent and serve their metrics to Prometheus')
    .addOption(prometheusOption().makeOptionMandatory())
    .option('-p, --pid <pid>', 'a process to trace; repeat for more', collectPid, [])
    .addOption(backendOption())
    .option('-d, --duration <seconds>', 'stop after this many seconds', parseSeconds)
    .option('-i, --interval <seconds>', 'how often each target is read (the freshness of /metrics)', parseInterval, 1)
    .option('--children', 'also trace the child processes each target already has')
    .option('--json', 'at the end, print the summaries as one JSON array on stdout')
    .addHelpText(
      'after',
      `
Every metric carries pid and comm labels. A target that exits keeps its final
figures on /metrics (iotrace_target_traced 0) until serve ends: on Ctrl-C,
SIGTERM, SIGHUP or --duration, detaching every target, which keeps running.

Examples:
  iotrace serve --prometheus 9464 --pid $(pgrep -o nginx) --pid $(pgrep -o redis-server)
  iotrace serve --prometheus 0.0.0.0:9464 --children --pid $(cat /run/nginx.pid)
                                            every interface, as the user chose`,
    )
    .action(async (opts: ServeCliOptions) => {
      if (opts.pid.length === 0) throw new IotraceError('EUSAGE', 'serve needs at least one --pid', EXIT_USAGE);
      // A thread id means its process; a process named twice is traced once.
      const pids = [...new Set(opts.pid.map((p) => checkAttachable(p)))];
      const results = await serve(pids, opts);
      if (opts.json) process.stdout.write(JSON.stringify(results.map((r) => r.summary), null, 2) + '\n');
      else for (const r of results) process.stdout.write(serveLine(r.summary) + '\n');
    });
}

async function serve(pids: number[], opts: ServeCliOptions): Promise<SessionResult[]> {
  const started = Date.now();
  const durationMs = opts.duration !== undefined ? opts.duration * 1000 : undefined;
  const sessions: Session[] = [];
  let stopping: string | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    stopping ??= sig;
    for (const s of sessions) s.stop(sig);
    wake?.();
  };
  // Bound before any attach: a port in use touches no target.
  const exporter = await startExporter(opts.prometheus);
  if (!exporter) throw new IotraceError('EUSAGE', 'serve needs --prometheus', EXIT_USAGE);
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  try {
    const exported: ExportedTarget[] = [];
    try {
      for (const pid of pids) {
        const i = sessions.length;
        const session = new Session({
          mode: 'attach',
          backend: opts.backend,
          pid,
          children: opts.children === true,
          seccomp: false,
          durationMs,
          intervalMs: opts.interval * 1000,
          warn: (m) => process.stderr.write(`iotrace: warning: pid ${pid}: ${m}\n`),
          onSnapshot: (cur) => exported[i]?.update(cur),
        });
        sessions.push(session);
        exported.push(exporter.add(session.header));
        const { target, backend } = session.header;
        process.stderr.write(`iotrace: attached to pid ${session.pid} (${target.cmdline || target.comm}) via ${backend}\n`);
        if (stopping) session.stop(stopping);
      }
    } catch (err) {
      // One target cannot be traced: the others are detached before the error is told.
      for (const s of sessions) s.stop('attach failed');
      await Promise.all(sessions.map((s) => s.run()));
      throw err;
    }
    const results = await Promise.all(
      sessions.map(async (s, i) => {
        const r = await s.run();
        exported[i].end(r.snapshot);
        if (!stopping && r.summary.endReason === 'target-exit') {
          process.stderr.write(`iotrace: pid ${s.pid} exited; its final figures stay on ${exporter.url}\n`);
        }
        return r;
      }),
    );
    // Every target has exited: serve on until a signal or --duration, so
    // Prometheus scrapes the final figures.
    if (!stopping && (durationMs === undefined || Date.now() - started < durationMs)) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (durationMs !== undefined) setTimeout(resolve, Math.max(0, started + durationMs - Date.now())).unref();
      });
    }
    return results;
  } finally {
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
    await exporter.close();
  }
}
