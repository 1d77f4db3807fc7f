// SPDX-License-Identifier: MIT
// The dashboard on a live session (attach, run, lab): q and Ctrl-C end it
// through the caller's signal path, r starts and stops a recording.
import { Dashboard } from '../../dashboard/dashboard';
import { IotraceError } from '../errors';
import type { Session } from '../session';

/** iotrace-<pid>-<local time>.json in the current directory. */
export function defaultRecordingName(pid: number, now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const t = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `iotrace-${pid}-${t}.json`;
}

export function openLiveDashboard(session: Session, quit: () => void): Dashboard {
  return new Dashboard({
    header: session.header,
    mode: 'live',
    onQuit: quit,
    recording: () => session.recordingLabel,
    onRecord: () => {
      try {
        if (session.recording) return `recording stopped: ${session.stopRecording()} (iotrace report reads it)`;
        const file = defaultRecordingName(session.pid);
        session.startRecording(file);
        return `recording to ${file}`;
      } catch (err) {
        if (err instanceof IotraceError) return err.message;
        throw err;
      }
    },
  });
}
