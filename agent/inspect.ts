// SPDX-License-Identifier: MIT
// Reads the static picture of a process (threads and the syscall each is
// blocked in, descriptors and their flags, epoll registrations, io_uring
// rings) from /proc alone: no ptrace stop, no eBPF, nothing the target notices.
import * as fs from 'node:fs';

import { errnoCode, IotraceError } from './errors';
import { FdDescriber } from './fd-info';
import { readMappedFiles } from './inspect-maps';
import { SYSCALLS } from './gen/syscalls';
import type {
  EpollInstance,
  EpollRegistration,
  InspectedFd,
  InspectedProcess,
  InspectedThread,
  Inspection,
  UringInstance,
} from './inspection';
import { checkAttachable, descendants, readCmdline } from './target';

/** Descriptors listed per process (the lowest numbers); fdCount is always the true number. */
export const MAX_LISTED_FDS = 4096;
/** Registrations listed per epoll instance; count is always the true number. */
export const MAX_LISTED_EPOLL_REGISTRATIONS = 4096;

// <asm-generic/fcntl.h>: the fdinfo flags line is the file's f_flags, in octal.
const O_NONBLOCK = 0o4000;
const O_ASYNC = 0o20000;
// <uapi/linux/eventpoll.h>
const EPOLLEXCLUSIVE = 2 ** 28;
const EPOLLONESHOT = 2 ** 30;
const EPOLLET = 2 ** 31;
// <linux/sched.h>: an io_uring kernel thread (SQPOLL or io-wq worker) in the process's thread group.
const PF_IO_WORKER = 0x10;

export interface InspectOptions {
  /** Also the descendants of the process (an nginx master's workers). */
  children: boolean;
}

/** The process or file is gone: /proc answers ENOENT, or ESRCH for a task that exited mid-read. */
function vanished(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ESRCH';
}

function permissionDenied(file: string): IotraceError {
  const root = process.getuid?.() === 0;
  return new IotraceError(
    'EACCES',
    `permission denied reading ${file}` +
      (root
        ? ': the kernel refuses ptrace-level access to this process (it holds capabilities iotrace lacks, or a security module forbids it)'
        : ': /proc shows descriptors and syscalls only to root, CAP_SYS_PTRACE, or the owner when ptrace would be allowed (Yama ptrace_scope)'),
  );
}

/** Runs a /proc read: undefined when what it reads has vanished, a clear error when it is not ours to read. */
function procRead<T>(file: string, read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (vanished(err)) return undefined;
    const code = errnoCode(err);
    if (code === 'EACCES' || code === 'EPERM') throw permissionDenied(file);
    throw err;
  }
}

function readText(file: string): string | undefined {
  return procRead(file, () => fs.readFileSync(file, 'utf8'));
}

function numericEntries(dir: string): number[] | undefined {
  const names = procRead(dir, () => fs.readdirSync(dir));
  return names?.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
}

/** Fields of /proc/…/stat after the comm, which may itself hold spaces and parentheses. */
function statFields(stat: string): { comm: string; rest: string[] } | undefined {
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  return { comm: stat.slice(open + 1, close), rest: stat.slice(close + 2).trim().split(' ') };
}

/**
 * /proc/<pid>/task/<tid>/syscall (proc(5)): "running", "-1 sp pc" outside any
 * syscall (a page fault, a stop in user space), or the number, six arguments in
 * hex, sp and pc. Numbers are x86_64's: a 32-bit (ia32) process's would be
 * misnamed, as they are not told apart here.
 */
function parseSyscall(text: string): InspectedThread['syscall'] {
  const f = text.trim().split(/\s+/);
  if (f[0] === 'running' || f[0] === '' || f[0] === '-1') return null;
  const nr = Number(f[0]);
  if (!Number.isInteger(nr) || nr < 0) return null;
  const desc = SYSCALLS[nr];
  let fd: number | null = null;
  if (desc && desc.fdArg >= 0 && f[1 + desc.fdArg] !== undefined) {
    // An int argument in a 64-bit register: its low 32 bits, signed (AT_FDCWD is -100).
    try {
      fd = Number(BigInt.asIntN(32, BigInt(f[1 + desc.fdArg])));
    } catch {
      fd = null;
    }
  }
  return { nr, name: desc?.name ?? `syscall_${nr}`, fd };
}

function readThreads(pid: number): InspectedThread[] | undefined {
  const tids = numericEntries(`/proc/${pid}/task`);
  if (!tids) return undefined;
  const threads: InspectedThread[] = [];
  for (const tid of tids) {
    const base = `/proc/${pid}/task/${tid}`;
    const stat = readText(`${base}/stat`);
    const fields = stat === undefined ? undefined : statFields(stat);
    if (!fields) continue; // exited since the listing
    const flags = Number(fields.rest[6] ?? 0);
    const thread: InspectedThread = { tid, comm: fields.comm, state: fields.rest[0] ?? '?', syscall: null };
    if (flags & PF_IO_WORKER) {
      // Its syscall file shows the io_uring_setup it was forked from: it runs
      // no user code and is never in a syscall of its own.
      thread.ioWorker = true;
    } else {
      const sc = readText(`${base}/syscall`);
      if (sc === undefined) continue;
      thread.syscall = parseSyscall(sc);
    }
    threads.push(thread);
  }
  return threads;
}

/** Octal flags line of an fdinfo file, undefined when absent. */
function fdinfoFlags(info: string): number | undefined {
  const m = /^flags:\s*([0-7]+)$/m.exec(info);
  return m ? parseInt(m[1], 8) : undefined;
}

/** `tfd: N events: HEX data: …` lines of an eventpoll fdinfo (fs/eventpoll.c, ep_show_fdinfo). */
function parseEpoll(fd: number, info: string): EpollInstance {
  const inst: EpollInstance = { fd, registrations: [], count: 0, edge: 0, oneshot: 0, exclusive: 0 };
  for (const m of info.matchAll(/^tfd:\s*(\d+)\s+events:\s*([0-9a-fA-F]+)/gm)) {
    const events = parseInt(m[2], 16);
    const reg: EpollRegistration = {
      tfd: Number(m[1]),
      events,
      edge: (events & EPOLLET) !== 0,
      oneshot: (events & EPOLLONESHOT) !== 0,
      exclusive: (events & EPOLLEXCLUSIVE) !== 0,
    };
    inst.count++;
    if (reg.edge) inst.edge++;
    if (reg.oneshot) inst.oneshot++;
    if (reg.exclusive) inst.exclusive++;
    if (inst.registrations.length < MAX_LISTED_EPOLL_REGISTRATIONS) inst.registrations.push(reg);
  }
  return inst;
}

function fdinfoNumber(info: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s*(-?(?:0x[0-9a-fA-F]+|\\d+))$`, 'm').exec(info);
  return m ? Number(m[1]) : undefined;
}

/**
 * An io_uring fdinfo (io_uring/fdinfo.c). On 6.x it holds SqMask/CqMask (ring
 * sizes less one; there is no SqEntries line) and SqThread, the SQPOLL
 * thread's pid or -1. Older kernels (5.x) print -1 also when their trylock of
 * the ring's uring_lock fails: the caller re-reads when an SQPOLL thread exists.
 */
function parseUring(fd: number, info: string): UringInstance {
  const sqThread = fdinfoNumber(info, 'SqThread');
  const sizeOf = (entries: string, mask: string): number | null => {
    const n = fdinfoNumber(info, entries);
    if (n !== undefined) return n;
    const m = fdinfoNumber(info, mask);
    return m !== undefined ? m + 1 : null;
  };
  return {
    fd,
    sqThread: sqThread !== undefined && sqThread > 0 ? sqThread : null,
    sqEntries: sizeOf('SqEntries', 'SqMask'),
    cqEntries: sizeOf('CqEntries', 'CqMask'),
  };
}

/** One process, or undefined when it exited while being read. */
function readProcess(pid: number, parentPid: number, describer: FdDescriber): InspectedProcess | undefined {
  const threads = readThreads(pid);
  const fdNumbers = numericEntries(`/proc/${pid}/fd`);
  if (!threads || !fdNumbers) return undefined;
  const comm = (readText(`/proc/${pid}/comm`) ?? '').trim();

  // Descriptors closed between the listing and their readlink or fdinfo are
  // not counted: fdCount is what the process has, as near as /proc can say.
  let closed = 0;
  const links: Array<{ pid: number; fd: number; link: string }> = [];
  for (const fd of fdNumbers.slice(0, MAX_LISTED_FDS)) {
    const file = `/proc/${pid}/fd/${fd}`;
    const link = procRead(file, () => fs.readlinkSync(file));
    if (link !== undefined) links.push({ pid, fd, link });
    else closed++;
  }
  const described = describer.describe(links);

  const sqpollThreads = threads.some((t) => t.ioWorker && t.comm.startsWith('iou-sqp-'));
  const fds: InspectedFd[] = [];
  const epoll: EpollInstance[] = [];
  const ioUring: UringInstance[] = [];
  for (const { fd, link } of links) {
    const infoFile = `/proc/${pid}/fdinfo/${fd}`;
    const info = readText(infoFile);
    if (info === undefined) {
      closed++;
      continue;
    }
    const d = described.get(`${pid}:${fd}`) ?? { type: 'unknown' as const, desc: link };
    const flags = fdinfoFlags(info) ?? 0;
    fds.push({ fd, type: d.type, desc: d.desc, flags, nonblock: (flags & O_NONBLOCK) !== 0, async: (flags & O_ASYNC) !== 0 });
    if (d.type === 'epoll') epoll.push(parseEpoll(fd, info));
    if (d.type === 'io_uring') {
      let ring = parseUring(fd, info);
      for (let retry = 0; retry < 3 && ring.sqThread === null && sqpollThreads; retry++) {
        const again = readText(infoFile);
        if (again === undefined) break;
        ring = parseUring(fd, again);
      }
      ioUring.push(ring);
    }
  }
  const mappedFiles = readMappedFiles(pid);
  return {
    pid, parentPid, comm, cmdline: readCmdline(pid), threads, fds, fdCount: fdNumbers.length - closed, epoll, ioUring,
    ...(mappedFiles ? { mappedFiles } : {}),
  };
}

/** The parent pid from /proc/<pid>/stat, undefined once the process is gone. */
function parentOf(pid: number): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  const fields = stat === undefined ? undefined : statFields(stat);
  return fields ? Number(fields.rest[1]) : undefined;
}

/**
 * Reads a process (and with `children` its descendants, parents first) from
 * /proc. A pid that is absent, a zombie or a kernel thread is refused as
 * attach refuses it; a descendant, thread or descriptor that goes away while
 * it is read is left out: that race is normal on a live server.
 */
export function readInspection(pid: number, opts: InspectOptions): Inspection {
  const t0 = process.hrtime.bigint();
  const takenAt = new Date().toISOString();
  let tgid: number;
  try {
    tgid = checkAttachable(pid);
  } catch (err) {
    // Reading /proc is harmless to iotrace itself, unlike tracing it.
    if (!(err instanceof IotraceError && err.code === 'ESELF')) throw err;
    tgid = process.pid;
  }
  // One describer for all: socket inodes are system-wide, so the /proc/<pid>/net
  // tables (milliseconds each to read) are read once per network namespace, not per process.
  const describer = new FdDescriber();
  const first = readProcess(tgid, 0, describer);
  if (!first) throw new IotraceError('ESRCH', `no such process: ${pid} (it exited while being read)`);
  const processes = [first];
  if (opts.children) {
    for (const child of descendants(tgid)) {
      const ppid = parentOf(child);
      const p = ppid === undefined ? undefined : readProcess(child, ppid, describer);
      if (p) processes.push(p);
    }
  }
  const durationMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { takenAt, durationMs: Math.round(durationMs * 1000) / 1000, processes };
}
