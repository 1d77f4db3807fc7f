// SPDX-License-Identifier: MIT
// The classifier: a pure function from what was traced (a snapshot window)
// and what /proc shows (an inspection) to the I/O model in the vocabulary of
// shared/IO-MODELS.md, with the figures behind every label. docs/classifier.md
// explains the rules.
import type { Inspection } from '../inspection';
import type { Snapshot } from '../snapshot';
import { advise } from './advice';
import { classifyConcurrency } from './concurrency';
import { busyPollStats, costs, multiplexerStats, uringStats } from './costs';
import { classifyData } from './data';
import { classFigure, fig, gatherFacts, size, type Facts } from './facts';
import { classifyTrigger } from './trigger';
import type { Classification } from './vocabulary';
import { classifyWait, minorIoThreads, signalIoEvidence, threadRoles, type ThreadRole } from './wait';

export interface ClassifyInput {
  /** Activity to classify: a window (see snapshot-window.ts) or a whole session; null for /proc alone. */
  window: Snapshot | null;
  inspection?: Inspection | null;
}

function role(f: Facts): Classification['role'] {
  if (f.accepts > 0 || f.listening > 0) return 'server';
  if (f.connects > 0) return 'client';
  return 'unknown';
}

function notes(f: Facts, roles: ThreadRole[]): string[] {
  const out: string[] = [];
  const minor = minorIoThreads(roles);
  if (minor.length) {
    const calls = minor.reduce((n, r) => n + r.t.calls.io, 0);
    out.push(`${minor.length} thread${minor.length === 1 ? '' : 's'} made ${fig(calls)} I/O call${calls === 1 ? '' : 's'} and no waits of their own (wake-ups of the loop, e.g. an eventfd write): not a wait mechanism`);
  }
  const sig = classFigure(f, 'wait.signal');
  const notIo = roles.filter((r) => r.t.calls.signal > 0 && !r.loops.includes('signal'));
  if (sig.calls > 0 && notIo.length) {
    const why = signalIoEvidence(f).yes ? 'they do no I/O after waking' : 'no O_ASYNC fd';
    out.push(`${notIo.length} thread${notIo.length === 1 ? '' : 's'} wait for signals (sigwaitinfo, sigsuspend…) but ${why}: signal handling, not signal-driven I/O`);
  }
  if (f.uring?.anyFdBytes) out.push(`${size(f.uring.anyFdBytes)} moved by io_uring read/write requests (read, readv, write…), whose fds the tracepoints do not name: in the data path, not in socket bytes or exchanges`);
  if (f.uring?.overflow) out.push(`${fig(f.uring.overflow)} io_uring requests not followed (the probes' in-flight map was full): missing from the io_uring figures`);
  if (f.io?.epollCtlUnread) out.push(`${fig(f.io.epollCtlUnread)} epoll_ctl registrations could not be read from the target's memory`);
  if (f.hasTrace && !f.io) out.push('recorded before the classifier: epoll trigger mode, busy polling and io_uring set-up are not known');
  return out;
}

export function classify({ window, inspection = null }: ClassifyInput): Classification {
  const f = gatherFacts(window, inspection);
  const roles = threadRoles(f);
  const wait = classifyWait(f, roles);
  const data = classifyData(f);
  const multiplexers = multiplexerStats(f);
  const busyPoll = busyPollStats(f);
  const c = costs(f);
  return {
    windowSec: f.windowSec,
    sources: [...(window ? (['trace'] as const) : []), ...(inspection ? (['inspect'] as const) : [])],
    // An SQPOLL ring submits without syscalls: quiet, not idle. A data path
    // with no bytes is a ring's, inferred from its submissions under ptrace:
    // I/O seen, only not its bytes. Only a trace can see no I/O; /proc alone
    // never says idle.
    idle: f.hasTrace && data.length === 0 && f.accepts === 0 && !wait.some((w) => w.label === 'io_uring' && w.calls === 0),
    role: role(f),
    wait,
    epollTrigger: wait.some((w) => w.label === 'epoll') ? classifyTrigger(f) : null,
    data,
    concurrency: classifyConcurrency(f, roles),
    multiplexers,
    busyPoll,
    ioUring: uringStats(f),
    costs: c,
    advice: advise({ f, roles, wait, data, multiplexers, busyPoll, costs: c }),
    notes: notes(f, roles),
  };
}

export type { Classification } from './vocabulary';
