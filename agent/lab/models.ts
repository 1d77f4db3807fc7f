// SPDX-License-Identifier: MIT
// The lab's reference servers, one per I/O model, each with its ground truth
// in the vocabulary of shared/IO-MODELS.md and the load that exercises it.
import * as path from 'node:path';

import type { Classification, ConcurrencyLabel, DataLabel, WaitLabel } from '../classify/vocabulary';

/** What a server is, by construction. */
export interface GroundTruth {
  wait: WaitLabel[];
  epollTrigger?: 'level' | 'edge';
  data: DataLabel[];
  concurrency: ConcurrencyLabel[];
}

export interface LabModel {
  name: string;
  summary: string;
  /** 'native': native/lab/bin/<binary>; 'node': dist/agent/lab/<binary>.js run by this node. */
  kind: 'native' | 'node';
  binary: string;
  args: string[];
  env?: Record<string, string>;
  /** Load: echo lines, or HTTP GET of this path. */
  load: { http?: string };
  /** Node's http server speaks only HTTP; every other server also echoes lines. */
  httpOnly?: boolean;
  truth: GroundTruth;
  /**
   * Syscalls that prove the model from outside: each `present` group needs at
   * least one call of one of its names, no `absent` name may be called.
   */
  signature: { present: string[][]; absent: string[] };
}

const MUX = ['select', 'pselect6', 'poll', 'ppoll', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2'];
const without = (...keep: string[]): string[] => MUX.filter((n) => !keep.includes(n));
const EPOLL = ['epoll_wait', 'epoll_pwait', 'epoll_pwait2'];

const echo = { http: undefined };
const file = { http: '/file' };

export const LAB_MODELS: readonly LabModel[] = [
  { name: 'blocking-threads', kind: 'native', binary: 'blocking-threads', args: [], load: echo,
    summary: 'blocking accept, one thread per connection, blocking read/write',
    truth: { wait: ['blocking'], data: ['copy'], concurrency: ['thread-per-connection'] },
    signature: { present: [['accept', 'accept4'], ['clone', 'clone3'], ['read', 'recvfrom']], absent: MUX } },
  { name: 'blocking-fork', kind: 'native', binary: 'blocking-fork', args: [], load: echo,
    summary: 'blocking accept, one process per connection (fork)',
    truth: { wait: ['blocking'], data: ['copy'], concurrency: ['process-per-connection'] },
    signature: { present: [['accept', 'accept4'], ['fork', 'clone', 'clone3'], ['read', 'recvfrom']], absent: MUX } },
  { name: 'busy-poll', kind: 'native', binary: 'busy-poll', args: [], load: echo,
    summary: 'non-blocking sockets retried on EAGAIN, no wait syscall: spins a CPU',
    truth: { wait: ['busy-poll'], data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [['accept', 'accept4'], ['read', 'recvfrom']], absent: [...MUX, 'nanosleep', 'clock_nanosleep', 'sched_yield'] } },
  { name: 'select', kind: 'native', binary: 'select', args: [], load: echo,
    summary: 'one thread multiplexing with select(2) (FD_SETSIZE 1024)',
    truth: { wait: ['select'], data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [['select']], absent: without('select') } },
  { name: 'poll', kind: 'native', binary: 'poll', args: [], load: echo,
    summary: 'one thread multiplexing with poll(2)',
    truth: { wait: ['poll'], data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [['poll']], absent: without('poll') } },
  { name: 'epoll-lt', kind: 'native', binary: 'epoll-lt', args: [], load: echo,
    summary: 'one thread, epoll level-triggered',
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['epoll_ctl']], absent: without(...EPOLL) } },
  { name: 'epoll-et', kind: 'native', binary: 'epoll-et', args: [], load: echo,
    summary: 'one thread, epoll edge-triggered, draining each fd to EAGAIN',
    truth: { wait: ['epoll'], epollTrigger: 'edge', data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['epoll_ctl']], absent: without(...EPOLL) } },
  { name: 'epoll-workers', kind: 'native', binary: 'epoll-workers', args: ['--workers', '2'], load: echo,
    summary: 'two worker processes, each its own epoll loop on a SO_REUSEPORT socket',
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['copy'], concurrency: ['event-loops'] },
    signature: { present: [EPOLL, ['accept', 'accept4']], absent: without(...EPOLL) } },
  { name: 'signal-driven', kind: 'native', binary: 'signal-driven', args: [], load: echo,
    summary: 'O_ASYNC + F_SETSIG sockets, one thread waiting in sigwaitinfo',
    truth: { wait: ['signal-driven'], data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [['rt_sigtimedwait'], ['fcntl']], absent: MUX } },
  { name: 'io_uring', kind: 'native', binary: 'io-uring', args: [], load: echo,
    summary: 'accept, recv and send submitted through io_uring (liburing)',
    truth: { wait: ['io_uring'], data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [['io_uring_enter']], absent: [...MUX, 'recvfrom', 'sendto', 'accept', 'accept4'] } },
  { name: 'linux-aio', kind: 'native', binary: 'linux-aio', args: [], load: file,
    summary: 'epoll for sockets, file reads behind GET /file through io_submit/io_getevents',
    truth: { wait: ['epoll', 'linux-aio'], epollTrigger: 'level', data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [['io_submit'], ['io_getevents', 'io_pgetevents'], EPOLL], absent: without(...EPOLL) } },
  { name: 'copy', kind: 'native', binary: 'copy', args: [], load: file,
    summary: 'epoll loop serving a file with read() + write(): 2 CPU copies per byte',
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['read', 'pread64'], ['write', 'writev']], absent: [...without(...EPOLL), 'sendfile', 'splice'] } },
  { name: 'sendfile', kind: 'native', binary: 'sendfile', args: [], load: file,
    summary: 'epoll loop serving a file with sendfile(): no user-space copy',
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['sendfile'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['sendfile']], absent: [...without(...EPOLL), 'splice', 'pread64'] } },
  { name: 'splice', kind: 'native', binary: 'splice', args: [], load: file,
    summary: 'epoll loop serving a file with splice() through a pipe: pages moved, not copied',
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['splice'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['splice']], absent: [...without(...EPOLL), 'sendfile', 'pread64'] } },
  { name: 'mmap', kind: 'native', binary: 'mmap', args: [], load: file,
    summary: 'epoll loop serving an mmap()ed file with write(): 1 CPU copy',
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['mmap'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['write', 'writev']], absent: [...without(...EPOLL), 'sendfile', 'splice', 'pread64'] } },
  { name: 'copy_file_range', kind: 'native', binary: 'copy-file-range', args: [], load: file,
    summary: 'epoll loop staging a snapshot of the file with copy_file_range (file to file, in the kernel), sent with sendfile',
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['copy_file_range', 'sendfile'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['copy_file_range'], ['sendfile']], absent: [...without(...EPOLL), 'read', 'pread64', 'write'] } },
  { name: 'node-net', kind: 'node', binary: 'node-net-echo', args: [], load: echo,
    summary: "Node's net module: libuv's epoll loop",
    truth: { wait: ['epoll'], epollTrigger: 'level', data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL], absent: ['select', 'pselect6', 'poll', 'ppoll'] } },
  { name: 'node-http-file', kind: 'node', binary: 'node-http-file', args: [], load: file, httpOnly: true,
    summary: "Node's http module serving a file: epoll loop, file reads in libuv's thread pool",
    truth: { wait: ['epoll', 'blocking'], epollTrigger: 'level', data: ['copy'], concurrency: ['single-thread', 'thread-pool'] },
    signature: { present: [EPOLL, ['read', 'pread64']], absent: ['select', 'pselect6', 'poll', 'ppoll'] } },
  { name: 'node-http-file-uring', kind: 'node', binary: 'node-http-file', args: [], env: { UV_USE_IO_URING: '1' }, load: file, httpOnly: true,
    summary: 'the same with UV_USE_IO_URING=1: libuv submits file reads through io_uring where it can',
    truth: { wait: ['epoll', 'io_uring'], epollTrigger: 'level', data: ['copy'], concurrency: ['single-thread'] },
    signature: { present: [EPOLL, ['io_uring_enter']], absent: ['select', 'pselect6', 'poll', 'ppoll'] } },
];

/** The repository root, from dist/agent/lab or agent/lab. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', ...(path.basename(path.resolve(__dirname, '..', '..')) === 'dist' ? ['..'] : []));

export function findModel(name: string): LabModel | undefined {
  return LAB_MODELS.find((m) => m.name === name);
}

/** The command that starts a model's server. */
export function serverCommand(m: LabModel): { file: string; args: string[] } {
  if (m.kind === 'native') return { file: path.join(REPO_ROOT, 'native', 'lab', 'bin', m.binary), args: m.args };
  return { file: process.execPath, args: [path.join(REPO_ROOT, 'dist', 'agent', 'lab', `${m.binary}.js`), ...m.args] };
}

export const LOAD_BINARY = (): string => path.join(REPO_ROOT, 'native', 'lab', 'bin', 'load');

export interface SignatureCheck {
  ok: boolean;
  /** `present` groups with no call at all. */
  missing: string[][];
  /** `absent` names that were called, with their counts. */
  unexpected: Array<[string, number]>;
}

/** Checks syscall counts (name → calls) against a model's signature. */
export function checkSignature(m: LabModel, calls: ReadonlyMap<string, number>): SignatureCheck {
  const missing = m.signature.present.filter((group) => !group.some((n) => (calls.get(n) ?? 0) > 0));
  const unexpected = m.signature.absent.filter((n) => (calls.get(n) ?? 0) > 0).map((n) => [n, calls.get(n) ?? 0] as [string, number]);
  return { ok: missing.length === 0 && unexpected.length === 0, missing, unexpected };
}

export interface ClassificationCheck {
  ok: boolean;
  /** Per dimension: what the model is and what the classifier said, when they differ. */
  mismatches: Array<{ what: 'wait' | 'epollTrigger' | 'data' | 'concurrency'; truth: string; classified: string }>;
}

const setText = (xs: readonly string[]): string => [...xs].sort().join('+') || 'none';

/**
 * Checks a classification against a model's ground truth: every wait
 * mechanism, the trigger mode, the data paths that are not minor, and the
 * concurrency labels, each as a set.
 */
export function checkClassification(m: LabModel, c: Classification): ClassificationCheck {
  const mismatches: ClassificationCheck['mismatches'] = [];
  const cmp = (what: ClassificationCheck['mismatches'][number]['what'], truth: readonly string[], got: readonly string[]): void => {
    if (setText(truth) !== setText(got)) mismatches.push({ what, truth: setText(truth), classified: setText(got) });
  };
  cmp('wait', m.truth.wait, c.wait.map((w) => w.label));
  cmp('epollTrigger', m.truth.epollTrigger ? [m.truth.epollTrigger] : [], c.epollTrigger ? [c.epollTrigger.label] : []);
  cmp('data', m.truth.data, c.data.filter((d) => !d.minor).map((d) => d.label));
  cmp('concurrency', m.truth.concurrency, c.concurrency.map((x) => x.label));
  return { ok: mismatches.length === 0, mismatches };
}
