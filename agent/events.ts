// SPDX-License-Identifier: MIT
// Per-syscall events (--events): the batch a backend drains once per
// snapshot, and the recording's events line built from it as text, without
// a JS object per event.
import { EVENT_COLUMNS } from './recording-schema';

/** --events-max's default: events kept per recording; past it they are dropped and counted. */
export const EVENTS_MAX_DEFAULT = 1_000_000;

/** What Backend.drainEvents hands back. */
export interface EventBatch {
  /** EVENT_COLUMNS.length numbers per event, startNs relative to the session's start. */
  events: Float64Array;
  /** Events drained past the max asked for: not kept. */
  discarded: number;
  /** Cumulative: events the backend's ring had no room for. */
  dropped: number;
}

export const NO_EVENTS: EventBatch = { events: new Float64Array(0), discarded: 0, dropped: 0 };

/** The events line (recording-schema EventsLine) as one JSON text, from the batches drained since the last one. */
export function formatEventsLine(tNs: number, dropped: number, batches: readonly Float64Array[]): string {
  const width = EVENT_COLUMNS.length;
  const rows: string[] = [];
  for (const events of batches) {
    for (let i = 0; i < events.length; i += width) {
      rows.push(`[${events[i]},${events[i + 1]},${events[i + 2]},${events[i + 3]},${events[i + 4]},${events[i + 5]},${events[i + 6]}]`);
    }
  }
  return `{"type":"events","tNs":${tNs},"dropped":${dropped},"columns":${JSON.stringify(EVENT_COLUMNS)},"events":[${rows.join(',')}]}`;
}
