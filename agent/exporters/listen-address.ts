// SPDX-License-Identifier: MIT
// --prometheus [host:]port: where the exporter listens. Loopback unless the
// user names another address: metrics tell what a server does and when.
import * as net from 'node:net';

import { InvalidArgumentError } from 'commander';

export interface ListenAddress {
  host: string;
  /** 0: any free port (the one bound is printed). */
  port: number;
}

export const DEFAULT_PROMETHEUS_HOST = '127.0.0.1';

/**
 * "9464" and ":9464" mean 127.0.0.1:9464; "0.0.0.0:9464", "[::]:9464" and
 * "host.example:9464" bind what they say. An IPv6 address goes in brackets.
 */
export function parseListenAddress(value: string): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new InvalidArgumentError('expected [host:]port, e.g. 9464, 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464.');
  }
  let host = m[1] ?? '';
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (net.isIPv6(host) === false) throw new InvalidArgumentError(`${host} is not an IPv6 address.`);
  }
  return { host: host || DEFAULT_PROMETHEUS_HOST, port };
}

/** host:port as a URL authority (IPv6 in brackets). */
export function formatListenAddress(a: ListenAddress): string {
  return `${net.isIPv6(a.host) ? `[${a.host}]` : a.host}:${a.port}`;
}
