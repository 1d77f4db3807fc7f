// SPDX-License-Identifier: MIT
// Checks a pid before attaching and reads what identifies a process.
import * as fs from 'node:fs';

import { IotraceError } from './errors';

export interface TargetInfo {
  pid: number;
  comm: string;
  cmdline: string;
  exe: string;
}

function statusField(pid: number, field: string): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text);
    return m ? m[1].trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The command line of a live process, '' once it is gone. */
export function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0').join(' ');
  } catch {
    return '';
  }
}

export function readTargetInfo(pid: number): TargetInfo {
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    exe = '';
  }
  let comm = '';
  try {
    comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    comm = '';
  }
  return { pid, comm, cmdline: readCmdline(pid), exe };
}

/**
 * Refuses, with a message a user can act on, a pid that cannot be attached:
 * absent, iotrace itself, a zombie, a kernel thread. Returns the process id
 * (the thread-group id when a thread id was given).
 */
export function checkAttachable(pid: number): number {
  const tgidText = statusField(pid, 'Tgid');
  if (tgidText === undefined) throw new IotraceError('ESRCH', `no such process: ${pid}`);
  const tgid = Number(tgidText);
  if (tgid === process.pid) throw new IotraceError('ESELF', `pid ${pid} is iotrace itself; it cannot trace itself`);
  const state = statusField(tgid, 'State') ?? '';
  if (state.startsWith('Z')) throw new IotraceError('EZOMBIE', `pid ${tgid} is a zombie (exited, not yet reaped by its parent): nothing to trace`);
  if (state.startsWith('X')) throw new IotraceError('ESRCH', `pid ${tgid} is exiting`);
  // Kernel threads are children of kthreadd (pid 2) or kthreadd itself, and have no memory map.
  const ppid = Number(statusField(tgid, 'PPid') ?? '-1');
  if (tgid === 2 || ppid === 2 || statusField(tgid, 'VmSize') === undefined && ppid !== -1 && tgid !== 1) {
    throw new IotraceError('EKTHREAD', `pid ${tgid} is a kernel thread: it makes no syscalls to trace`);
  }
  return tgid;
}

/**
 * Refuses pid 1 to ptrace. ptrace stops init at every syscall it makes; if
 * iotrace is itself stopped (Ctrl-Z, a debugger) or slowed, init stops too, and
 * with it the reaping of orphans and whatever the system runs through it. eBPF
 * only watches: init runs on untouched.
 */
export function checkPtraceable(pid: number, ebpfUnavailable?: string): void {
  if (pid !== 1) return;
  const comm = readTargetInfo(1).comm;
  const alternative = ebpfUnavailable === undefined ? '--backend ebpf watches it without stopping it' : `and eBPF, which would only watch it, is unavailable: ${ebpfUnavailable}`;
  throw new IotraceError('EINIT', `pid 1${comm ? ` (${comm})` : ''} is init: ptrace would stop it at every syscall, and a stopped init stalls the whole system; ${alternative}`);
}

/**
 * "pid 4272 (iotrace)" for the TracerPid of a traced process. TracerPid is the
 * tracing thread (iotrace's tracer thread, not its process): name its process,
 * the pid a user finds in ps and can signal, and the program it runs.
 */
export function describeTracer(tracerTid: number): string {
  const tgid = Number(statusField(tracerTid, 'Tgid') ?? tracerTid);
  const { comm, cmdline } = readTargetInfo(tgid);
  // iotrace runs as "node …/bin/iotrace": its comm is node.
  const script = cmdline.split(' ')[1] ?? '';
  const name = script.endsWith('/iotrace') || script === 'iotrace' ? 'iotrace' : comm;
  return name ? `pid ${tgid} (${name})` : `pid ${tgid}`;
}

/** Every live descendant process of pid, from the PPid fields in /proc, parents first. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statusField(Number(entry), 'PPid') ?? '-1');
    if (ppid <= 0) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length) {
    const p = queue.shift() as number;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}
