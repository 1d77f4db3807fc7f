// SPDX-License-Identifier: MIT
// --prometheus: serves /metrics (Prometheus text exposition, via prom-client)
// for one or more traced targets. Sessions hand it their snapshots; a scrape
// renders the newest ones (prometheus-metrics.ts), so no JS runs per syscall.
import * as http from 'node:http';

import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';

import { describeSystemError, errnoCode, IotraceError } from '../errors';
import type { SessionHeader } from '../recording-schema';
import type { Snapshot } from '../snapshot';
import { formatListenAddress, type ListenAddress } from './listen-address';
import { FAMILIES, type Family, type TargetState } from './prometheus-metrics';

/** What a session feeds the exporter. */
export interface ExportedTarget {
  /** A new snapshot, cumulative like every snapshot. */
  update(snapshot: Snapshot): void;
  /** The session ended: its last snapshot, served from now on as final. */
  end(snapshot: Snapshot): void;
}

const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: 'the port is in use; choose another',
  EADDRNOTAVAIL: 'not an address of this host',
  EACCES: 'ports below 1024 need privileges',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved',
};

export class PrometheusExporter {
  private readonly targets: TargetState[] = [];
  private readonly registry = new Registry();

  private constructor(
    private readonly server: http.Server,
    /** The address bound (port 0 replaced by the port the kernel chose). */
    readonly address: ListenAddress,
  ) {
    for (const f of FAMILIES) this.registry.registerMetric(this.collector(f));
    // The agent's own CPU, memory and event loop: process_cpu_seconds_total…
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Binds the address, before anything is attached: a port in use or a bad
   * host is a one-line error and no target is touched.
   */
  static async listen(addr: ListenAddress): Promise<PrometheusExporter> {
    let exporter: PrometheusExporter | undefined;
    const server = http.createServer((req, res) => void exporter?.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => {
        const code = errnoCode(err);
        const hint = code ? LISTEN_HINTS[code] : undefined;
        reject(new IotraceError('EPROMETHEUS', `--prometheus ${formatListenAddress(addr)}: ${describeSystemError(err)}${hint ? `: ${hint}` : ''}`));
      });
      server.listen(addr.port, addr.host, () => resolve());
    });
    const bound = server.address();
    const port = bound && typeof bound === 'object' ? bound.port : addr.port;
    exporter = new PrometheusExporter(server, { host: addr.host, port });
    return exporter;
  }

  get url(): string {
    return `http://${formatListenAddress(this.address)}/metrics`;
  }

  /** Exports a target from now on, labelled with its pid and comm. */
  add(header: SessionHeader): ExportedTarget {
    const t: TargetState = { header, snapshot: undefined, atMs: Date.now(), traced: true };
    this.targets.push(t);
    return {
      update: (s) => {
        t.snapshot = s;
        t.atMs = Date.now();
      },
      end: (s) => {
        t.snapshot = s;
        t.atMs = Date.now();
        t.traced = false;
      },
    };
  }

  /** Stops listening and drops open (keep-alive) connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      const body = await this.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end('iotrace: metrics at /metrics\n');
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
  }

  /**
   * A prom-client metric rendered from the targets' snapshots. Counter has no
   * set() and Histogram takes observations, not buckets, so the registry gets
   * a custom metric: the shape its get() must return (prom-client's
   * MetricObjectWithValues), which it formats and escapes like its own.
   */
  private collector(f: Family): Metric {
    const custom = {
      name: f.name,
      help: f.help,
      type: f.type,
      aggregator: 'sum',
      get: async () => {
        const now = Date.now();
        return { name: f.name, help: f.help, type: f.type, aggregator: 'sum', values: this.targets.flatMap((t) => f.samples(t, now)) };
      },
      reset: () => undefined,
    };
    return custom as unknown as Metric;
  }
}
