// SPDX-License-Identifier: MIT
// The verdict panel: the I/O model in one line, then the classifier's own
// text (shares, evidence, costs, advice) as `iotrace classify` prints it.
import { pct } from '../../agent/classify/facts';
import { formatClassification } from '../../agent/classify/format';
import type { Classification } from '../../agent/classify/vocabulary';

/** "epoll 100% (level-triggered) · copy 100% · single-thread". */
export function verdictLine(c: Classification): string {
  if (c.idle) return 'idle: no I/O seen';
  const wait = c.wait.map((w) => `${w.label} ${pct(w.share)}`).join(' + ') || 'no wait seen';
  const trigger = c.epollTrigger ? ` (${c.epollTrigger.label}-triggered)` : '';
  const data = c.data.filter((d) => !d.minor).map((d) => `${d.label} ${pct(d.share)}`).join(' + ') || 'no data moved';
  const conc = c.concurrency.map((x) => (x.label === 'event-loops' ? `${x.count} event loops` : x.label)).join(' + ') || 'concurrency unknown';
  return `${wait}${trigger} · ${data} · ${conc}`;
}

export function verdictLines(c: Classification | undefined): string[] {
  if (!c) return ['waiting for the first snapshot…'];
  return [verdictLine(c), ...formatClassification(c)];
}
