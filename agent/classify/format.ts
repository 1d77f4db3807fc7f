// SPDX-License-Identifier: MIT
// The classification as text: the first thing the summary and `classify` print.
import { fig, pct } from './facts';
import type { Classification, Evidence } from './vocabulary';

const conf = (e: Evidence): string => (e.confidence === 'high' ? '' : ` [${e.confidence} confidence]`);

export function formatClassification(c: Classification): string[] {
  const out: string[] = [];
  const from = c.sources.length ? c.sources.join(' + ') : 'nothing';
  const span = c.windowSec > 0 ? `${fig(c.windowSec)} s of ` : '';
  out.push(`I/O model (${span}${from}${c.role !== 'unknown' ? `, a ${c.role}` : ''})${c.idle ? ': idle — no I/O seen' : ''}`);
  const line = (k: string, v: string): void => void out.push(`  ${k.padEnd(12)} ${v}`);
  if (c.wait.length) {
    line('wait', c.wait.map((w) => `${w.label} ${pct(w.share)}${conf(w)}`).join(', '));
    for (const w of c.wait) for (const e of w.evidence) out.push(`${' '.repeat(15)}${w.label}: ${e}`);
  } else {
    line('wait', 'none seen');
  }
  if (c.epollTrigger) line('epoll', `${c.epollTrigger.label}-triggered${conf(c.epollTrigger)}: ${c.epollTrigger.evidence.join('; ')}`);
  if (c.data.length) {
    line('data', c.data.map((d) => `${d.label} ${pct(d.share)}${d.minor ? ' (minor)' : conf(d)}`).join(', '));
    for (const d of c.data.filter((x) => !x.minor)) for (const e of d.evidence) out.push(`${' '.repeat(15)}${d.label}: ${e}`);
  }
  if (c.concurrency.length) {
    line('concurrency', c.concurrency.map((x) => `${x.label}${x.label === 'event-loops' ? ` (${x.count})` : ''}${conf(x)}`).join(', '));
    for (const x of c.concurrency) for (const e of x.evidence) out.push(`${' '.repeat(15)}${e}`);
  }
  for (const m of c.multiplexers) {
    const watched = m.watchedPerCall === null ? '' : `, ${fig(m.watchedPerCall)} fds ${m.label === 'epoll' ? 'registered' : 'watched per call'}`;
    const limit = m.maxFd !== undefined ? `, max fd ${m.maxFd} of FD_SETSIZE ${m.fdSetSize}` : '';
    line(m.label, `${fig(m.wakeupsPerSec)} wake-ups/s, ${fig(m.readyPerCall)} ready per call${watched}${limit}`);
  }
  if (c.busyPoll.eagain > 0) line('EAGAIN', `${fig(c.busyPoll.eagain)} of ${fig(c.busyPoll.ioCalls)} I/O calls, ${fig(c.busyPoll.spins)} with no wait since the previous one`);
  if (c.ioUring) {
    const u = c.ioUring;
    const reqs = u.requests !== undefined ? `, ${fig(u.requests)} requests (${fig(u.completions ?? 0)} completions)` : '';
    line('io_uring', `${u.rings} ring(s)${u.sqpoll ? ', SQPOLL' : ''}${u.setupFlags.length ? ` (${u.setupFlags.join('|')})` : ''}, ${fig(u.enterCalls)} io_uring_enter${u.submittedPerEnter !== null ? `, ${fig(u.submittedPerEnter)} SQEs per enter` : ''}${reqs}`);
  }
  const k = c.costs;
  if (k.perRequest) {
    const r = k.perRequest;
    const sqes = r.uringRequests !== undefined ? `, ${fig(r.uringRequests)} io_uring requests` : '';
    line('per request', `${fig(r.syscalls)} syscalls, ${fig(r.modeSwitches)} mode switches${sqes}, ${fig(r.cpuCopies)} CPU copies, ${fig(r.bytesCopied)} B copied (${fig(k.requests)} ${k.requestBasis})`);
  }
  if (k.perKiB || k.copiesPerByte !== null) {
    const parts = [];
    if (k.perKiB) {
      const sqes = k.perKiB.uringRequests !== undefined ? `, ${fig(k.perKiB.uringRequests)} io_uring requests` : '';
      parts.push(`${fig(k.perKiB.syscalls)} syscalls, ${fig(k.perKiB.modeSwitches)} mode switches${sqes} per KiB sent`);
    }
    if (k.copiesPerByte !== null) parts.push(`${fig(k.copiesPerByte)} CPU copies of each byte sent`);
    line('cost', parts.join('; '));
  }
  if (k.bytesCopied + k.bytesNoUserCopy > 0) {
    line('bytes', `${fig(k.bytesCopied / 1024)} KiB through user space, ${fig(k.bytesNoUserCopy / 1024)} KiB without a user copy`);
  }
  for (const a of c.advice) out.push(`  advice: ${a.text} [${a.evidence}]`);
  for (const n of c.notes) out.push(`  note: ${n}`);
  return out;
}
