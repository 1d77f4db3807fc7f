// SPDX-License-Identifier: MIT
// Concurrency: how many threads and processes serve, and how they come to be.
import { fig, type Facts } from './facts';
import type { ThreadRole } from './wait';
import type { Confidence, ConcurrencyEntry } from './vocabulary';

/** A new thread or process per accepted connection: at least this many per accept. */
const PER_CONNECTION = 0.5;

/**
 * A thread's I/O: its I/O syscalls, and the ring's completed requests when it
 * is the one thread waiting on a ring (the tracepoints do not say whose ring
 * a request is in, so with several such threads none gets them).
 */
function ioOf(f: Facts, roles: ThreadRole[]): (r: ThreadRole) => number {
  const ringThreads = roles.filter((r) => r.loops.includes('uring'));
  const ring = ringThreads.length === 1 ? (f.uring?.completions ?? 0) : 0;
  return (r) => r.t.calls.io + r.t.eagain + (r === ringThreads[0] ? ring : 0);
}

export function classifyConcurrency(f: Facts, roles: ThreadRole[]): ConcurrencyEntry[] {
  const out: ConcurrencyEntry[] = [];
  const io = ioOf(f, roles);
  // A loop that does no I/O serves nothing (Node's timer thread runs its own
  // epoll loop): loops are counted by the ones that do, if any does.
  const allLoops = roles.filter((r) => r.loops.length > 0 || r.busy);
  const working = allLoops.filter((r) => io(r) > 0);
  const loops = working.length ? working : allLoops;
  const blocking = roles.filter((r) => r.blocking);
  const conf = (n: number): Confidence => (n >= 3 ? 'high' : 'medium');

  let perConnection = false;
  if (f.accepts > 0 && f.forks > 0 && f.forks >= PER_CONNECTION * f.accepts) {
    perConnection = true;
    out.push({ label: 'process-per-connection', count: f.forks, confidence: conf(f.accepts),
      evidence: [`${fig(f.forks)} processes forked for ${fig(f.accepts)} accepted connections`] });
  } else if (f.accepts > 0 && f.clones > 0 && f.clones >= PER_CONNECTION * f.accepts && loops.length === 0) {
    // Beside a loop, new threads are a pool starting up (libuv starts its
    // pool at first use), not threads per connection.
    perConnection = true;
    out.push({ label: 'thread-per-connection', count: f.clones, confidence: conf(f.accepts),
      evidence: [`${fig(f.clones)} threads created for ${fig(f.accepts)} accepted connections`] });
  } else if (f.accepts === 0 && blocking.length >= 3) {
    // No connection came in the window; the shape still shows: one thread
    // blocked in accept, the others each blocked on a connection of their own.
    const inAccept = blocking.filter((r) => r.t.current?.name.startsWith('accept'));
    const onConn = blocking.filter((r) => r.t.current && !r.t.current.name.startsWith('accept') && r.t.current.fd >= 0);
    const fds = new Set(onConn.map((r) => `${r.t.pid}:${r.t.current!.fd}`));
    if (inAccept.length >= 1 && fds.size >= 2) {
      perConnection = true;
      const pids = new Set(onConn.map((r) => r.t.pid));
      const label = pids.size >= 2 ? 'process-per-connection' : 'thread-per-connection';
      out.push({ label, count: onConn.length, confidence: 'medium',
        evidence: [`${inAccept.length} thread blocked in accept, ${onConn.length} ${pids.size >= 2 ? 'processes' : 'threads'} each blocked on a connection of its own (no connection accepted in the window)`] });
    }
  }

  if (loops.length >= 2) {
    const procs = new Set(loops.map((r) => r.t.pid)).size;
    out.push({ label: 'event-loops', count: loops.length, confidence: 'high',
      evidence: [`${loops.length} threads in ${procs} process${procs === 1 ? '' : 'es'} each wait in their own loop (${[...new Set(loops.flatMap((r) => r.busy ? ['spinning'] : r.loops))].join(', ')})`] });
  } else if (loops.length === 1) {
    const r = loops[0];
    out.push({ label: 'single-thread', count: 1, confidence: io(r) >= 20 ? 'high' : 'medium',
      evidence: [`one thread (${r.t.tid}) runs the loop${r.busy ? ' (spinning)' : ` (${r.loops.join(', ')})`}${f.hasTrace ? ' and does its I/O' : ''}`] });
  }

  if (!perConnection && blocking.length > 0) {
    if (loops.length > 0 || blocking.length >= 2) {
      out.push({ label: 'thread-pool', count: blocking.length, confidence: blocking.length >= 2 || loops.length > 0 ? 'medium' : 'low',
        evidence: [`${blocking.length} thread${blocking.length === 1 ? '' : 's'} do blocking I/O${loops.length ? ' beside the loop' : ''}, with ${fig(f.clones)} threads created for ${fig(f.accepts)} connections in the window`] });
    } else {
      out.push({ label: 'single-thread', count: 1, confidence: blocking[0].t.calls.io >= 20 ? 'high' : 'medium',
        evidence: [`one thread (${blocking[0].t.tid}) does all the I/O in blocking calls`] });
    }
  }
  return out;
}
