// SPDX-License-Identifier: MIT
// What the dashboard knows: the session header, the last two snapshots, the
// classification of the session so far and a bounded history of rates. Fed
// only by snapshots, so live tracing and replay look the same.
import { classify } from '../agent/classify';
import type { Classification } from '../agent/classify/vocabulary';
import type { SessionHeader } from '../agent/recording-schema';
import { ratesPerSec, type RateGroup, type Snapshot } from '../agent/snapshot';

export const RATE_GROUPS: readonly RateGroup[] = ['wait', 'read', 'write', 'zero-copy', 'other'];

/** Rate history kept for the chart: a few minutes at the default 1 s interval. */
export const HISTORY_POINTS = 180;

export interface RatePoint {
  tNs: number;
  perSec: Record<RateGroup, number> & { total: number };
}

export interface DashState {
  header: SessionHeader;
  prev: Snapshot | undefined;
  cur: Snapshot | undefined;
  classification: Classification | undefined;
  rates: RatePoint[];
}

export function emptyState(header: SessionHeader): DashState {
  return { header, prev: undefined, cur: undefined, classification: undefined, rates: [] };
}

/**
 * The state after one more snapshot. The work is bounded by the snapshot's
 * tables (syscalls, fds, threads), never by how many syscalls the target made.
 */
export function pushSnapshot(s: DashState, snap: Snapshot, withClassification = true): DashState {
  const rates = s.rates.length >= HISTORY_POINTS ? s.rates.slice(s.rates.length - HISTORY_POINTS + 1) : s.rates.slice();
  rates.push({ tNs: snap.tNs, perSec: ratesPerSec(s.cur, snap) });
  return {
    header: s.header,
    prev: s.cur,
    cur: snap,
    // The session so far, as the recording's snapshot lines and the summary
    // classify it. A replay seek refills the history without it.
    classification: withClassification ? classify({ window: snap, inspection: s.header.inspection ?? null }) : s.classification,
    rates,
  };
}
