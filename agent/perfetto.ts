// SPDX-License-Identifier: MIT
// A recording made with --events as Chrome trace-event JSON (the format
// ui.perfetto.dev and chrome://tracing open): one track per thread, one
// complete ("X") slice per syscall. Streams: one events line in memory at a
// time, the output written as it is made.
import * as path from 'node:path';

import { IotraceError } from './errors';
import { SYSCALLS } from './gen/syscalls';
import { errnoName } from './native-backend';
import { readRecording } from './recording';
import { EVENT_COLUMNS, type EventsLine, type SessionHeader } from './recording-schema';

export interface PerfettoResult {
  /** X slices written: one per recorded event. */
  slices: number;
  /** The recording's last count of events not recorded (ring full, --events-max). */
  dropped: number;
  warnings: string[];
}

/** Bytes of output gathered before each write. */
const CHUNK = 1 << 16;

function fail(file: string, lineNo: number, why: string): never {
  throw new IotraceError('EBADREC', `${file}: line ${lineNo}: ${why}`);
}

/** "12.345": nanoseconds as the format's microseconds, exactly. */
function us(ns: number): string {
  return String(ns / 1000);
}

function processName(pid: number, header: SessionHeader, cmdlines: Map<number, string>): string {
  const cmd = cmdlines.get(pid);
  if (cmd) return path.basename(cmd.split(' ')[0]);
  return pid === header.target.pid ? header.target.comm : `pid ${pid}`;
}

/**
 * Writes the trace of an --events recording through `write`. Throws an
 * IotraceError for a recording without events (before writing anything) or a
 * malformed line (naming it).
 */
export async function exportPerfetto(file: string, write: (text: string) => void): Promise<PerfettoResult> {
  let header: SessionHeader | undefined;
  let buf = '';
  let first = true;
  let slices = 0;
  let dropped = 0;
  let eventLines = 0;
  let snapshots = 0;
  let overlaps = 0;
  const cmdlines = new Map<number, string>();
  const named = new Set<string>();
  /** Per tid: where its last slice ended (ns), to check that a thread is in one call at a time. */
  const lastEnd = new Map<number, number>();

  const emit = (json: string): void => {
    buf += first ? json : ',' + json;
    first = false;
    if (buf.length >= CHUNK) {
      write(buf);
      buf = '';
    }
  };
  const nameTrack = (pid: number, tid: number): void => {
    const pkey = `p${pid}`;
    if (!named.has(pkey) && header) {
      named.add(pkey);
      emit(JSON.stringify({ name: 'process_name', ph: 'M', pid, tid: pid, args: { name: processName(pid, header, cmdlines) } }));
    }
    const tkey = `t${tid}`;
    if (!named.has(tkey) && header) {
      named.add(tkey);
      const name = tid === pid ? processName(pid, header, cmdlines) : `thread ${tid}`;
      emit(JSON.stringify({ name: 'thread_name', ph: 'M', pid, tid, args: { name } }));
    }
  };

  const onEvents = (line: EventsLine, lineNo: number): void => {
    eventLines++;
    if (line.columns.length !== EVENT_COLUMNS.length || line.columns.some((c, i) => c !== EVENT_COLUMNS[i])) {
      fail(file, lineNo, `events line with columns ${JSON.stringify(line.columns)}, expected ${JSON.stringify(EVENT_COLUMNS)}`);
    }
    dropped = line.dropped;
    for (let i = 0; i < line.events.length; i++) {
      const e = line.events[i];
      if (!Array.isArray(e) || e.length !== EVENT_COLUMNS.length || !e.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        fail(file, lineNo, `event ${i + 1} is not ${EVENT_COLUMNS.length} numbers`);
      }
      const [startNs, durNs, pid, tid, nr, fd, ret] = e;
      nameTrack(pid, tid);
      const d = SYSCALLS[nr];
      // A call entered before the session began (run mode's execve) is cut at its start.
      const end = startNs + durNs;
      const from = Math.max(0, startNs);
      const args: Record<string, number | string> = { fd, ret };
      if (d?.ret === 'bytes' && ret > 0) args.bytes = ret;
      if (ret < 0 && ret >= -4095) args.errno = errnoName(-ret);
      if (startNs < 0) args.beforeStartNs = -startNs;
      if (from < (lastEnd.get(tid) ?? -Infinity)) overlaps++;
      lastEnd.set(tid, Math.max(from, end));
      emit(
        `{"name":${JSON.stringify(d?.name ?? `syscall_${nr}`)},"cat":${JSON.stringify(d?.cls ?? '-')},"ph":"X",` +
          `"ts":${us(from)},"dur":${us(Math.max(0, end - from))},"pid":${pid},"tid":${tid},"args":${JSON.stringify(args)}}`,
      );
      slices++;
    }
  };

  const { warnings } = await readRecording(file, {
    header: (h) => {
      if (!h.events) {
        throw new IotraceError('ENOEVENTS', `${file}: recorded without --events: it holds counts, not a timeline (record with --record FILE --events)`);
      }
      header = h;
      write('{"displayTimeUnit":"ns","traceEvents":[');
    },
    snapshot: (s) => {
      snapshots++;
      for (const p of s.snapshot.processes) if (p.cmdline) cmdlines.set(p.pid, p.cmdline);
    },
    events: onEvents,
  });
  if (!snapshots) throw new IotraceError('EBADREC', `${file}: the recording has a header but no snapshot yet`);
  if (!eventLines) {
    throw new IotraceError('ENOEVENTS', `${file}: no events line: iotrace stopped before its first snapshot`);
  }
  const out = [...warnings];
  if (dropped) out.push(`${dropped} events were not recorded (the ring was full, or past --events-max): the timeline has gaps`);
  if (overlaps) out.push(`${overlaps} slices start before the previous one of their thread ended`);
  write(buf);
  write(
    `],"otherData":${JSON.stringify({ recording: path.basename(file), backend: header?.backend ?? '', startTime: header?.startTime ?? '', slices, dropped })}}\n`,
  );
  return { slices, dropped, warnings: out };
}
