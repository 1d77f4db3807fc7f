// SPDX-License-Identifier: MIT
// The rate chart's data: syscalls/s per I/O class over the kept history.
import { fmtInt } from '../../agent/format';
import type { LineSeries } from 'blessed-contrib';
import { fmtElapsed } from './header';
import { RATE_GROUPS, type RatePoint } from '../state';
import type { Theme } from '../theme';

export function rateSeries(points: RatePoint[], theme: Theme): LineSeries[] {
  const x = points.map((p) => fmtElapsed(p.tNs));
  return RATE_GROUPS.map((g) => ({ title: g, x, y: points.map((p) => Math.round(p.perSec[g])), style: { line: theme.chart.series[g] } }));
}

/** The latest figures in the label, so the chart reads without its colours. */
export function ratesLabel(points: RatePoint[]): string {
  const last = points[points.length - 1];
  if (!last) return 'syscalls/s';
  return `syscalls/s: ${RATE_GROUPS.map((g) => `${g} ${fmtInt(last.perSec[g])}`).join(' ')}`;
}
