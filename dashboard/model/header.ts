// SPDX-License-Identifier: MIT
// The header: who is traced, how, for how long, how busy, and what the
// dashboard itself is doing (live, paused, replaying, recording).
import { fmtInt } from '../../agent/format';
import type { SessionHeader } from '../../agent/recording-schema';
import { ratesPerSec, type Snapshot } from '../../agent/snapshot';
import { cut } from './table';

export interface HeaderStatus {
  /** 'live', or a replay's position. */
  source: { kind: 'live' } | { kind: 'replay'; file: string; index: number; count: number; endSec: number; playing: boolean; speed: number };
  paused: boolean;
  /** The file being recorded to, if any. */
  recording: string | undefined;
  /** The latest message for the user (a warning, a recording started). */
  message: string | undefined;
}

export function fmtElapsed(ns: number): string {
  const s = Math.floor(ns / 1e9);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Updates not counted because a bounded table was full. */
function dropped(s: Snapshot): number {
  const k = s.counters;
  return k.fdOverflow + k.threadOverflow + k.processOverflow;
}

export function headerLines(h: SessionHeader, prev: Snapshot | undefined, cur: Snapshot | undefined, st: HeaderStatus, width: number): string[] {
  const who = h.target.cmdline || h.target.comm || '?';
  const parts = [`pid ${h.target.pid} (${who})`, `backend ${h.backend}`];
  if (cur) {
    parts.push(fmtElapsed(cur.tNs), `${fmtInt(ratesPerSec(prev, cur).total)} syscalls/s`);
    const d = dropped(cur);
    if (d) parts.push(`dropped ${fmtInt(d)}`);
  } else {
    parts.push('waiting for the first snapshot');
  }
  const src = st.source;
  parts.push(src.kind === 'live' ? (st.recording ? `REC ${st.recording}` : 'recording off') : `replay of ${src.file}`);
  const line1 = parts.join(' · ');
  const state: string[] = [];
  if (src.kind === 'replay') {
    const at = cur ? (cur.tNs / 1e9).toFixed(1) : '0.0';
    state.push(`${src.playing ? '▶ playing' : '❚❚ stopped'} ${at}/${src.endSec.toFixed(1)} s (snapshot ${src.index + 1}/${src.count}) at ${src.speed}×`);
  }
  if (st.paused) state.push(src.kind === 'live' ? 'VIEW PAUSED (tracing goes on; p resumes)' : 'VIEW PAUSED (p resumes)');
  if (st.message) state.push(st.message);
  state.push('? help · q quit');
  return [cut(line1, width), cut(state.join(' · '), width)];
}
