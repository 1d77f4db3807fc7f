// SPDX-License-Identifier: MIT
// Wait mechanisms: what each thread sleeps in, weighed by waiting time.
import { SYSCALLS } from '../gen/syscalls';
import { fig, LOOP_KINDS, pct, type Facts, type LoopKind, type ThreadFacts, type UringFacts } from './facts';
import type { Confidence, WaitEntry, WaitLabel } from './vocabulary';

const LOOP_LABEL: Record<LoopKind, WaitLabel> = {
  select: 'select', poll: 'poll', epoll: 'epoll', signal: 'signal-driven', uring: 'io_uring', aio: 'linux-aio',
};
const LOOP_CLASS = {
  select: 'wait.select', poll: 'wait.poll', epoll: 'wait.epoll', signal: 'wait.signal', uring: 'aio.uring', aio: 'aio.linux',
} as const;

export interface ThreadRole {
  t: ThreadFacts;
  /** Retries EAGAIN with nothing in between: busy polling. */
  busy: boolean;
  /** The loop waits it sleeps in. */
  loops: LoopKind[];
  /** Does I/O in plain blocking calls: no loop wait, not spinning. */
  blocking: boolean;
}

/** Signal-driven I/O needs O_ASYNC (or F_SETSIG/F_SETOWN) somewhere; a thread in sigwaitinfo without it handles signals, not I/O. */
export function signalIoEvidence(f: Facts): { yes: boolean; why: string } {
  const io = f.io;
  const traced = io ? io.asyncSets + io.setsig + io.setown : 0;
  let asyncFds = 0;
  for (const p of f.inspection?.processes ?? []) asyncFds += p.fds.filter((d) => d.async).length;
  const parts: string[] = [];
  if (io?.asyncSets) parts.push(`${fig(io.asyncSets)} O_ASYNC set`);
  if (io?.setsig) parts.push(`${fig(io.setsig)} F_SETSIG`);
  if (io?.setown) parts.push(`${fig(io.setown)} F_SETOWN`);
  if (asyncFds) parts.push(`${asyncFds} fds with O_ASYNC now`);
  return { yes: traced + asyncFds > 0, why: parts.join(', ') };
}

/** A thread with fewer I/O calls than this, and under 1% of all, does not make a blocking mechanism (an eventfd wake-up from a worker). */
const MINOR_IO_CALLS = 10;

export function threadRoles(f: Facts): ThreadRole[] {
  const signalIo = signalIoEvidence(f).yes;
  const allIo = f.threads.reduce((n, t) => n + t.calls.io, 0);
  return f.threads.map((t) => {
    const ioCalls = t.calls.io + t.eagain;
    // Signal waits are I/O waits only where O_ASYNC is set and the thread
    // does I/O after them: an nginx master sits in sigsuspend with O_ASYNC on
    // its channel to the workers, and serves nothing.
    const signalLoop = signalIo && (!f.hasTrace || t.calls.io + t.eagain > 0);
    const loops = LOOP_KINDS.filter((k) => t.calls[k] > 0 && (k !== 'signal' || signalLoop));
    // Blocking calls never return EAGAIN: a thread that never waits and keeps
    // getting EAGAIN polls, however busy its peers keep it.
    const busy = t.spins >= 10 && (t.spins >= 0.5 * ioCalls || loops.length === 0);
    const minor = t.calls.io < MINOR_IO_CALLS && t.calls.io < 0.01 * allIo && t.current?.kind !== 'io';
    return { t, busy, loops, blocking: !busy && loops.length === 0 && t.calls.io > 0 && !minor };
  });
}

/** Threads that do a little I/O and no waiting of their own: counted nowhere, said in a note. */
export function minorIoThreads(roles: ThreadRole[]): ThreadRole[] {
  return roles.filter((r) => !r.busy && !r.blocking && r.loops.length === 0 && r.t.calls.io > 0);
}

export function uringSqpoll(f: Facts): number[] | null {
  const threads = (f.inspection?.processes ?? []).flatMap((p) => p.ioUring.filter((r) => r.sqThread !== null).map((r) => r.sqThread as number));
  if (threads.length || (f.io?.uringSqpoll ?? 0) > 0 || ((f.io?.uringSetupFlags ?? 0) & 2) !== 0) return threads;
  return null;
}

function confidence(calls: number, inflightOnly: boolean): Confidence {
  if (inflightOnly) return 'medium';
  return calls >= 20 ? 'high' : calls >= 3 ? 'medium' : 'low';
}

/** "epoll_wait 1,234, epoll_pwait 3": the names behind a class, busiest first. */
function namesOf(f: Facts, cls: string): string {
  return SYSCALLS.filter((d) => d?.cls === cls)
    .map((d) => [d!.name, f.byName.get(d!.name)?.calls ?? 0] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${fig(n)}`)
    .join(', ');
}

/** "375,150 io_uring requests submitted, 375,145 completed (recv 189,831, send 189,815, accept 16)". */
function uringRequestsEvidence(u: UringFacts): string {
  const top = [...u.ops].sort((a, b) => b.submitted - a.submitted).slice(0, 4).map((o) => `${o.name} ${fig(o.submitted)}`);
  return `${fig(u.submitted)} io_uring requests submitted, ${fig(u.completions)} completed (${top.join(', ')}), from the io_uring tracepoints`;
}

export function classifyWait(f: Facts, roles: ThreadRole[]): WaitEntry[] {
  type Cur = ThreadFacts['current'];
  const acc = new Map<WaitLabel, { ns: number; calls: number; threads: Set<number>; inflight: number; example: Cur }>();
  const add = (label: WaitLabel, tid: number, ns: number, calls: number, cur: Cur): void => {
    const e = acc.get(label) ?? { ns: 0, calls: 0, threads: new Set<number>(), inflight: 0, example: null };
    e.ns += ns;
    e.calls += calls;
    e.threads.add(tid);
    if (cur) {
      e.inflight++;
      e.example ??= cur;
    }
    acc.set(label, e);
  };
  for (const r of roles) {
    const cur = r.t.current;
    for (const k of r.loops) add(LOOP_LABEL[k], r.t.tid, r.t.ns[k], r.t.calls[k], cur?.kind === k ? cur : null);
    if (r.busy) add('busy-poll', r.t.tid, r.t.otherNs, r.t.calls.io + r.t.eagain, null);
    if (r.blocking) add('blocking', r.t.tid, r.t.ns.io, r.t.calls.io, cur?.kind === 'io' ? cur : null);
  }

  const sq = uringSqpoll(f);
  if (sq !== null && !acc.has('io_uring')) add('io_uring', -1, 0, 0, null);
  const signalIo = signalIoEvidence(f);
  // Handlers instead of a wait call: SIGIO deliveries are the only sign, and
  // they count only when no thread waits any other way.
  if (signalIo.yes && acc.size === 0 && f.signals > 0) add('signal-driven', -1, 0, f.signals, null);

  const totalNs = [...acc.values()].reduce((n, e) => n + e.ns, 0);
  const totalThreads = [...acc.values()].reduce((n, e) => n + e.threads.size, 0);
  const out: WaitEntry[] = [];
  for (const [label, e] of acc) {
    const threads = [...e.threads].filter((t) => t >= 0).length;
    // With no times (the /proc picture alone) threads are the only weight there is.
    const share = totalNs > 0 ? e.ns / totalNs : totalThreads > 0 ? threads / totalThreads : 0;
    const evidence: string[] = [];
    const inThreads = `${threads} thread${threads === 1 ? '' : 's'}`;
    const waited = f.hasTrace ? `, ${fig(e.ns / 1e9)} s waiting` : '';
    switch (label) {
      case 'blocking': {
        const names = ['data.read', 'net.accept', 'data.write'].map((c) => namesOf(f, c)).filter(Boolean).join(', ');
        evidence.push(f.hasTrace ? `${inThreads} do I/O in blocking calls with no multiplexer${waited}${names ? ` (${names})` : ''}` : `${inThreads} blocked in I/O calls with no multiplexer`);
        break;
      }
      case 'busy-poll': {
        const b = roles.filter((r) => r.busy);
        const spins = b.reduce((n, r) => n + r.t.spins, 0);
        const io = b.reduce((n, r) => n + r.t.calls.io + r.t.eagain, 0);
        evidence.push(`${pct(io ? spins / io : 0)} of ${fig(io)} I/O calls in ${inThreads} returned EAGAIN with no wait in between`);
        break;
      }
      case 'io_uring':
        if (sq !== null) evidence.push(`SQPOLL ring${sq.length ? ` (kernel thread ${sq.join(', ')})` : ''}: submissions need no syscall, so few syscalls here do not mean idle`);
        if (e.calls) evidence.push(`${namesOf(f, 'aio.uring') || `${fig(e.calls)} io_uring calls`} in ${inThreads}${waited}`);
        if (f.uring?.submitted) evidence.push(uringRequestsEvidence(f.uring));
        break;
      case 'signal-driven':
        evidence.push(`signal-driven I/O set up: ${signalIo.why}`);
        if (threads) evidence.push(`${namesOf(f, 'wait.signal') || 'signal waits'} in ${inThreads}${waited}`);
        else evidence.push(`${fig(f.signals)} signals delivered to handlers`);
        break;
      default: {
        const k = (Object.keys(LOOP_LABEL) as LoopKind[]).find((x) => LOOP_LABEL[x] === label)!;
        const names = namesOf(f, LOOP_CLASS[k]);
        if (f.hasTrace) evidence.push(`${names || `${fig(e.calls)} calls`} in ${inThreads}${waited}`);
      }
    }
    const c = e.example;
    if (c) evidence.push(`${e.inflight} thread${e.inflight === 1 ? '' : 's'} in it now (e.g. ${c.name}${c.fd >= 0 ? ` on fd ${c.fd}` : ''}${c.forNs ? ` for ${fig(c.forNs / 1e9)} s` : ''})`);
    // The tracepoints' completions are direct evidence of a ring at work, however few its syscalls.
    const ringSeen = label === 'io_uring' && (sq !== null || (f.uring?.completions ?? 0) >= 20);
    out.push({ label, share, waitNs: e.ns, calls: e.calls, threads, confidence: ringSeen ? 'high' : confidence(e.calls, e.calls === e.inflight), evidence });
  }
  return out.sort((a, b) => b.share - a.share || b.calls - a.calls);
}
