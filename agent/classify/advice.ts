// SPDX-License-Identifier: MIT
// Advice: a few lines, each resting on a measured figure. No figure, no advice.
import { classFigure, fig, pct, type Facts } from './facts';
import type { ThreadRole } from './wait';
import type { Advice, BusyPollStats, Costs, DataEntry, MultiplexerStats, WaitEntry } from './vocabulary';

export interface AdviceInput {
  f: Facts;
  roles: ThreadRole[];
  wait: WaitEntry[];
  data: DataEntry[];
  multiplexers: MultiplexerStats[];
  busyPoll: BusyPollStats;
  costs: Costs;
}

export function advise({ f, roles, data, multiplexers, busyPoll, costs }: AdviceInput): Advice[] {
  const out: Advice[] = [];

  for (const m of multiplexers) {
    if (m.label === 'epoll' || m.calls < 20 || m.watchedPerCall === null) continue;
    const ready = m.readyPerCall;
    if (m.watchedPerCall >= 16 && m.watchedPerCall >= 4 * Math.max(ready, 1)) {
      const limit = m.label === 'select' ? ` (max fd ${m.maxFd}, FD_SETSIZE ${m.fdSetSize})` : '';
      out.push({
        text: `${m.label} watches ${fig(m.watchedPerCall)} fds per call${limit} and ${fig(ready)} are ready on average: the kernel scans and copies every watched fd per call; epoll would wake only for ready fds`,
        evidence: `${fig(m.calls)} ${m.label} calls, watched/ready ${fig(m.watchedPerCall)}/${fig(ready)}`,
      });
    }
    if (m.label === 'select' && m.maxFd !== undefined && m.maxFd >= 0.75 * (m.fdSetSize ?? 1024)) {
      out.push({
        text: `select's highest fd is ${m.maxFd}, close to FD_SETSIZE ${m.fdSetSize}: an fd ≥ ${m.fdSetSize} cannot be watched (and overflows fd_set); move to poll or epoll before the server grows`,
        evidence: `max nfds ${m.maxFd + 1}`,
      });
    }
  }

  if (roles.some((r) => r.busy) || (busyPoll.spins >= 10 && busyPoll.share >= 0.5)) {
    const top = [...f.byName.entries()].filter(([, s]) => s.spins > 0).sort((a, b) => b[1].spins - a[1].spins)[0];
    const [name, s] = top ?? ['I/O', { calls: busyPoll.ioCalls, spins: busyPoll.spins }];
    out.push({
      text: `${pct(s.spins / s.calls)} of ${name} calls returned EAGAIN with no wait in between: the loop is spinning a CPU whenever it has nothing to do; wait for readiness in epoll_wait (or poll) instead`,
      evidence: `${fig(s.spins)} of ${fig(s.calls)} ${name} calls`,
    });
  }

  const copy = data.find((d) => d.label === 'copy' && !d.minor);
  if (copy && f.fileIn >= 65536 && f.fileIn >= 0.5 * f.socketOut && f.socketOut > 0) {
    out.push({
      text: `file bytes go read()+write(): 2 CPU copies per byte and 2 syscalls per chunk; sendfile (or splice) would send them from the page cache without the user-space copy`,
      evidence: `${fig(f.fileIn / 1024)} KiB read from files, ${fig(f.socketOut / 1024)} KiB sent on sockets`,
    });
  }

  const loops = roles.filter((r) => r.loops.length > 0);
  const acc = classFigure(f, 'net.accept');
  if (loops.length >= 2 && acc.calls >= 20 && acc.eagain >= 0.2 * acc.calls) {
    out.push({
      text: `${pct(acc.eagain / acc.calls)} of accept calls across ${loops.length} event loops returned EAGAIN: every loop wakes for each connection (a thundering herd); EPOLLEXCLUSIVE or SO_REUSEPORT gives each connection to one loop`,
      evidence: `${fig(acc.eagain)} of ${fig(acc.calls)} accept calls failed with EAGAIN`,
    });
  }

  if (f.clones >= 10 && f.accepts > 0 && f.clones >= 0.5 * f.accepts && loops.length === 0) {
    out.push({
      text: `a thread per connection: ${fig(f.clones)} threads created for ${fig(f.accepts)} connections; each costs a stack and context switches; an event loop or a fixed pool bounds both`,
      evidence: `${fig(f.clones)} clones, ${fig(f.accepts)} accepts`,
    });
  }
  if (f.forks >= 10 && f.accepts > 0 && f.forks >= 0.5 * f.accepts) {
    out.push({
      text: `a process per connection: ${fig(f.forks)} forks for ${fig(f.accepts)} connections; fork copies page tables each time; pre-forked workers or an event loop avoid it`,
      evidence: `${fig(f.forks)} forks, ${fig(f.accepts)} accepts`,
    });
  }

  const small = [...f.byName.entries()]
    .filter(([name, s]) => ['read', 'recvfrom', 'write', 'sendto'].includes(name) && s.calls - s.errors >= 1000)
    .map(([name, s]) => ({ name, calls: s.calls - s.errors, avg: s.bytes / (s.calls - s.errors) }))
    .filter((s) => s.avg > 0 && s.avg < 256 && costs.perRequest !== null && costs.perRequest.syscalls >= 6);
  for (const s of small.slice(0, 1)) {
    out.push({
      text: `${s.name} moves ${fig(s.avg)} bytes per call on average and a request costs ${fig(costs.perRequest!.syscalls)} syscalls: larger buffers, readv/writev or batching (io_uring) cut the mode switches`,
      evidence: `${fig(s.calls)} ${s.name} calls, ${fig(s.avg)} B/call`,
    });
  }
  return out;
}
