// SPDX-License-Identifier: MIT
// epoll trigger mode, from the EPOLLET bit of registrations: traced
// epoll_ctl calls, and the registrations /proc shows (made before the attach).
import { fig, type Facts } from './facts';
import type { TriggerEntry, TriggerLabel } from './vocabulary';

/** Listening sockets are registered once and do not say how connections are served: they are left out when known. */
function inspectedRegistrations(f: Facts): { edge: number; level: number; listeners: number; listenersEdge: number } {
  let edge = 0;
  let level = 0;
  let listeners = 0;
  let listenersEdge = 0;
  for (const p of f.inspection?.processes ?? []) {
    const listening = new Set(p.fds.filter((d) => d.desc.endsWith('(listening)')).map((d) => d.fd));
    for (const ep of p.epoll) {
      for (const r of ep.registrations) {
        if (listening.has(r.tfd)) {
          listeners++;
          if (r.edge) listenersEdge++;
        } else if (r.edge) edge++;
        else level++;
      }
      // Past the listing cap only the totals are known.
      const unlisted = ep.count - ep.registrations.length;
      if (unlisted > 0) {
        const listedEdge = ep.registrations.filter((r) => r.edge).length;
        edge += Math.max(0, ep.edge - listedEdge);
        level += Math.max(0, unlisted - Math.max(0, ep.edge - listedEdge));
      }
    }
  }
  return { edge, level, listeners, listenersEdge };
}

export function classifyTrigger(f: Facts): TriggerEntry | null {
  const io = f.io;
  const tracedEdge = io?.epollCtlEt ?? 0;
  const tracedAll = (io?.epollCtlAdd ?? 0) + (io?.epollCtlMod ?? 0) - (io?.epollCtlUnread ?? 0);
  const tracedLevel = Math.max(0, tracedAll - tracedEdge);
  const ins = inspectedRegistrations(f);
  const edge = tracedEdge + ins.edge;
  const level = tracedLevel + ins.level;
  if (edge + level === 0) {
    if (ins.listeners === 0) return null;
    // Only listening sockets registered: that is all there is to go on.
    const e = ins.listenersEdge;
    const l = ins.listeners - e;
    const label: TriggerLabel = e && l ? 'mixed' : e ? 'edge' : 'level';
    return { label, edge: e, level: l, confidence: 'low', evidence: [`only listening sockets registered so far: ${e} of ${ins.listeners} with EPOLLET`] };
  }
  const share = edge / (edge + level);
  const label: TriggerLabel = share >= 0.75 ? 'edge' : share <= 0.25 ? 'level' : 'mixed';
  const evidence: string[] = [];
  if (tracedAll > 0) evidence.push(`epoll_ctl ADD/MOD: ${fig(tracedEdge)} of ${fig(tracedAll)} with EPOLLET`);
  if (ins.edge + ins.level > 0) evidence.push(`registered now (/proc fdinfo): ${fig(ins.edge)} of ${fig(ins.edge + ins.level)} with EPOLLET${ins.listeners ? `, listening sockets apart` : ''}`);
  if (io?.epollCtlUnread) evidence.push(`${fig(io.epollCtlUnread)} registrations could not be read`);
  const n = edge + level;
  return { label, edge, level, confidence: n >= 10 ? 'high' : n >= 2 ? 'medium' : 'low', evidence };
}
