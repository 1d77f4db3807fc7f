// SPDX-License-Identifier: MIT
// The threads of a process as a tracer leaves them: each one's state and TracerPid.
import * as fs from 'node:fs';

/** The state letter of every thread of pid (field 3 of /proc/<pid>/task/<tid>/stat) and its TracerPid. */
export function threadStates(pid: number): Array<{ tid: number; state: string; tracerPid: string | undefined }> {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: Array<{ tid: number; state: string; tracerPid: string | undefined }> = [];
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // comm may hold spaces and parentheses: the state follows the last ") ".
      const state = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[0];
      const m = /^TracerPid:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      out.push({ tid: Number(tid), state, tracerPid: m?.[1] });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Every thread of pid that still exists runs untraced: not stopped (t, T), TracerPid 0. */
export function assertThreadsRunningUntraced(pid: number): void {
  const bad = threadStates(pid).filter((t) => /^[tT]/.test(t.state) || (t.tracerPid !== undefined && t.tracerPid !== '0'));
  if (bad.length) throw new Error(`threads of pid ${pid} stopped or traced: ${JSON.stringify(bad)}`);
}
