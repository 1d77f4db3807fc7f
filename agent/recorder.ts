// SPDX-License-Identifier: MIT
// Writes a session to a JSON Lines recording as it goes, so a crash loses at
// most the line being written; a full disk stops the recording, not the trace.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describeSystemError, IotraceError } from './errors';
import { MAX_LINE_BYTES, type RecordingLine } from './recording-schema';

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

const MIB = 1 << 20;

export class Recorder {
  readonly file: string;
  private fd: number | undefined;
  /** The file's identity: when the path leads elsewhere (rm, rm -r, umount -l, mv), the file was taken away. */
  private dev = 0;
  private ino = 0;
  /** Byte offset after the last complete line. */
  private goodOffset = 0;
  private linesWritten = 0;
  private linesLost = 0;
  /** Lines over MAX_LINE_BYTES, not written so that readers can read the rest. */
  private linesTooLong = 0;
  private failure: string | undefined;
  /** The file was removed (or replaced) and nothing could be kept: none of the lines written is left at the path. */
  private removed = false;

  /** Opens (creates or truncates) the file with mode 0600: recordings describe a server. */
  constructor(file: string) {
    this.file = file;
    try {
      this.fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
      fs.fchmodSync(this.fd, 0o600);
      const st = fs.fstatSync(this.fd);
      this.dev = st.dev;
      this.ino = st.ino;
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
    if (buf.length - 1 > MAX_LINE_BYTES) {
      this.linesTooLong++;
      if (this.linesTooLong > 1) return undefined;
      return `recording ${this.file}: a ${(buf.length / MIB).toFixed(0)} MiB line was not written (readers take lines up to ${MAX_LINE_BYTES / MIB} MiB); the recording goes on without it`;
    }
    try {
      let off = 0;
      while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off, this.goodOffset + off);
      this.goodOffset += buf.length;
      this.linesWritten++;
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
    return this.checkPath();
  }

  /**
   * After each line (one per interval: a stat is cheap): does the path still
   * lead to the file being written? If not, writes would go on into a file
   * nobody can open, lost at close. What was written is still readable
   * through our descriptor, so it is copied back to the path when nothing is
   * there and the directory still exists, and recording goes on in the copy.
   * A path that now leads to another file is left alone.
   */
  private checkPath(): string | undefined {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(this.file, { throwIfNoEntry: false });
    } catch {
      st = undefined; // ENOTDIR, EACCES: as good as gone
    }
    if (st && st.dev === this.dev && st.ino === this.ino) return undefined;
    const n = this.linesWritten;
    const old = this.fd as number;
    if (st) {
      this.stop('replaced by another file during the session');
      this.removed = true;
      return `recording ${this.file} was replaced by another file during the session after ${n} lines: recording stopped, tracing goes on; the ${n} lines written are lost (the file now at that path is not iotrace's, and is left alone)`;
    }
    try {
      // /proc/self/fd/N opens the file itself, even unlinked or on a detached mount.
      fs.copyFileSync(`/proc/self/fd/${old}`, this.file, fs.constants.COPYFILE_EXCL);
      const fd = fs.openSync(this.file, fs.constants.O_WRONLY);
      const copy = fs.fstatSync(fd);
      if (copy.size !== this.goodOffset) {
        fs.closeSync(fd);
        throw new Error(`the copy holds ${copy.size} bytes, not ${this.goodOffset}`);
      }
      fs.fchmodSync(fd, 0o600);
      fs.closeSync(old);
      this.fd = fd;
      this.dev = copy.dev;
      this.ino = copy.ino;
      return `recording ${this.file} was removed during the session after ${n} lines: re-created it with those ${n} lines; recording goes on`;
    } catch (err) {
      const dir = path.dirname(path.resolve(this.file));
      const why = fs.existsSync(dir) ? `re-creating it: ${describeSystemError(err)}` : `its directory ${dir} is gone`;
      this.stop(`removed during the session; ${why}`);
      this.removed = true;
      return `recording ${this.file} was removed during the session after ${n} lines (${why}): recording stopped, tracing goes on; the ${n} lines written are lost`;
    }
  }

  private stop(failure: string): void {
    this.failure = failure;
    this.close();
  }

  /**
   * What the summary says when lines were lost, or undefined. `pending`:
   * lines the caller is about to write that will be lost too (the summary
   * line itself).
   */
  lossWarning(pending = 1): string | undefined {
    const out: string[] = [];
    if (this.removed) {
      out.push(`recording ${this.file}: all ${this.linesWritten + this.linesLost + pending} lines lost (${this.failure})`);
    } else if (this.failure) {
      out.push(`recording ${this.file}: ${this.linesLost + pending} lines lost (${this.failure}); it holds ${this.linesWritten} complete lines`);
    }
    if (this.linesTooLong) out.push(`recording ${this.file}: ${this.linesTooLong} lines longer than ${MAX_LINE_BYTES / MIB} MiB not written`);
    return out.length ? out.join('; ') : undefined;
  }

  /** The file's state, for the dashboard's header: its path, and why recording stopped if it did. */
  label(): string {
    return this.failure ? `${this.file} (STOPPED: ${this.failure})` : this.file;
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
