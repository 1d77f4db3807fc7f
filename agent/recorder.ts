// SPDX-License-Identifier: MIT
// Writes a session to a JSON Lines recording as it goes, so a crash loses at
// most the line being written; a full disk stops the recording, not the trace.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describeSystemError, IotraceError } from './errors';
import type { RecordingLine } from './recording-schema';

/**
 * Fails like the open would, without creating or truncating anything: a
 * session checks its recording path before touching the target, and opens it
 * only once the attach succeeded.
 */
export function checkRecordingPath(file: string): void {
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, open '${file}'`), { code: 'EISDIR' });
    }
    fs.accessSync(st ? file : path.dirname(path.resolve(file)), fs.constants.W_OK);
  } catch (err) {
    throw new IotraceError('ERECORD', `cannot write recording ${file}: ${describeSystemError(err)}`);
  }
}

export class Recorder {
  readonly file: string;
  private fd: number | undefined;
  /** Byte offset after the last complete line. */
  private goodOffset = 0;
  private linesWritten = 0;
  private linesLost = 0;
  private failure: string | undefined;

  /** Opens (creates or truncates) the file with mode 0600: recordings describe a server. */
  constructor(file: string) {
    this.file = file;
    try {
      this.fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
      fs.fchmodSync(this.fd, 0o600);
    } catch (err) {
      throw new IotraceError('ERECORD', `cannot write recording ${file}: ${describeSystemError(err)}`);
    }
  }

  /**
   * Appends one line. Returns a warning the first time writing fails: the
   * file is cut back to its last complete line and later lines are counted
   * as lost.
   */
  write(line: RecordingLine): string | undefined {
    return this.writeJson(JSON.stringify(line));
  }

  /** Appends one line already serialised (the events line, built from a typed array); as write(). */
  writeJson(json: string): string | undefined {
    if (this.fd === undefined || this.failure) {
      this.linesLost++;
      return undefined;
    }
    const buf = Buffer.from(json + '\n');
    try {
      let off = 0;
      while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off, this.goodOffset + off);
      this.goodOffset += buf.length;
      this.linesWritten++;
      return undefined;
    } catch (err) {
      this.failure = describeSystemError(err);
      this.linesLost++;
      try {
        fs.ftruncateSync(this.fd, this.goodOffset);
      } catch {
        // The partial line stays; readers stop at it and say so.
      }
      return `recording to ${this.file} stopped: ${this.failure}; tracing goes on, the file holds the first ${this.linesWritten} lines`;
    }
  }

  /** A line for the summary: what was kept and what was lost. */
  status(): { file: string; linesWritten: number; linesLost: number; failure: string | undefined } {
    return { file: this.file, linesWritten: this.linesWritten, linesLost: this.linesLost, failure: this.failure };
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Nothing more to save.
    }
    this.fd = undefined;
  }
}
