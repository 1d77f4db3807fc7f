// SPDX-License-Identifier: MIT
// The shared end of attach and run: run a session with its live line, signal
// handling and output, and return the exit status.
import type { Dashboard } from '../../dashboard/dashboard';
import type { BackendChoice } from '../backend';
import type { ListenAddress } from '../exporters/listen-address';
import { PrometheusExporter, type ExportedTarget } from '../exporters/prometheus';
import { formatLiveLine, formatSummary } from '../format';
import { Session, type SessionOptions, type SessionResult } from '../session';
import type { Snapshot } from '../snapshot';

export interface TraceCliOptions {
  backend: BackendChoice;
  duration?: number;
  interval: number;
  record?: string;
  events?: boolean;
  eventsMax?: number;
  json?: boolean;
  ui: boolean;
  children?: boolean;
  prometheus?: ListenAddress;
}

/** Binds --prometheus's address (before any attach: a port in use touches no target) and says where. */
export async function startExporter(addr: ListenAddress | undefined): Promise<PrometheusExporter | undefined> {
  if (!addr) return undefined;
  const exporter = await PrometheusExporter.listen(addr);
  process.stderr.write(`iotrace: serving Prometheus metrics on ${exporter.url}\n`);
  return exporter;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs a session to its end. In run mode the first signal goes to the
 * command (it decides how to end, and the session ends when it exits); a
 * second one detaches at once. In attach mode a signal detaches at once.
 */
export async function traceToEnd(
  base: Omit<SessionOptions, 'warn' | 'onSnapshot' | 'durationMs' | 'intervalMs' | 'record' | 'children' | 'backend' | 'events' | 'eventsMax'>,
  cli: TraceCliOptions,
): Promise<SessionResult> {
  // The dashboard on a terminal; the live line when only stderr is one.
  const ui = !cli.json && cli.ui && process.stdout.isTTY === true;
  const live = !ui && !cli.json && cli.ui && process.stderr.isTTY === true;
  let dash: Dashboard | undefined;
  let session: Session | undefined;
  let pending: NodeJS.Signals | undefined;
  let forwarded = false;
  let finished = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (finished) return;
    if (!session) {
      pending ??= sig; // attaching: end as soon as it is done
      return;
    }
    if (base.mode === 'run' && !forwarded) {
      forwarded = true;
      try {
        process.kill(session.pid, sig);
        return;
      } catch {
        // Already gone: end now.
      }
    }
    session.stop(sig);
  };
  // Installed before the attach and kept after the summary: a signal at any
  // moment ends the session cleanly, never by the default action (which
  // would lose the summary, or orphan a run-mode command).
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  let exporter: PrometheusExporter | undefined;
  let exported: ExportedTarget | undefined;
  try {
    exporter = await startExporter(cli.prometheus);
    const show = ui ? (cur: Snapshot) => dash?.push(cur) : live ? (cur: Snapshot, prev: Snapshot | undefined) => process.stderr.write(formatLiveLine(cur, prev) + '\n') : undefined;
    session = new Session({
      ...base,
      backend: cli.backend,
      durationMs: cli.duration !== undefined ? cli.duration * 1000 : undefined,
      intervalMs: cli.interval * 1000,
      record: cli.record,
      events: cli.events === true,
      eventsMax: cli.eventsMax,
      children: cli.children === true,
      // Nothing may write to the terminal under the dashboard: warnings go to
      // its header (the summary lists them all again).
      warn: (m) => (dash ? dash.notify(`warning: ${m}`) : process.stderr.write(`iotrace: warning: ${m}\n`)),
      onSnapshot:
        show || exporter
          ? (cur, prev) => {
              exported?.update(cur);
              show?.(cur, prev);
            }
          : undefined,
    });
    exported = exporter?.add(session.header);
    const { target, backend, backendReason } = session.header;
    const fallback = backendReason?.startsWith('ebpf unavailable') ? ` (${backendReason})` : '';
    process.stderr.write(
      `iotrace: ${base.mode === 'attach' ? 'attached to' : 'started'} pid ${session.pid} (${target.cmdline || target.comm}) via ${backend}${fallback}${cli.record ? `, recording to ${cli.record}` : ''}\n`,
    );
    if (pending) onSignal(pending);
    // Raw mode turns Ctrl-C into a key: q and Ctrl-C take SIGINT's path.
    // blessed is loaded only for a dashboard, never by --no-ui or --json runs.
    if (ui) dash = (await import('./live-dashboard')).openLiveDashboard(session, () => onSignal('SIGINT'));
    let result: SessionResult;
    try {
      result = await session.run();
    } finally {
      dash?.close();
      dash = undefined;
    }
    exported?.end(result.snapshot);
    if (cli.json) process.stdout.write(JSON.stringify(result.summary, null, 2) + '\n');
    else process.stdout.write(formatSummary(result.summary));
    return result;
  } finally {
    finished = true;
    await exporter?.close();
  }
}
