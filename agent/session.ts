// SPDX-License-Identifier: MIT
// A tracing session: starts a backend (attach or run), pulls a snapshot per
// interval, records it, watches for the end (duration, signal, target exit)
// and returns the summary. The same code serves attach, run and, later, lab.
import * as os from 'node:os';
import * as path from 'node:path';

import type { Backend, BackendChoice, TargetExit } from './backend';
import { classify } from './classify';
import type { Classification } from './classify/vocabulary';
import { EXIT_USAGE, IotraceError } from './errors';
import { EVENTS_MAX_DEFAULT, formatEventsLine } from './events';
import { readInspection } from './inspect';
import type { Inspection } from './inspection';
import { NativeBackend, type NativeStart } from './native-backend';
import { checkRecordingPath, Recorder } from './recorder';
import { EVENT_COLUMNS, RECORDING_SCHEMA, type SessionHeader } from './recording-schema';
import type { Snapshot } from './snapshot';
import { summarize, type Summary } from './summary';
import { checkPtraceable, descendants, readTargetInfo } from './target';
import { VERSION } from './version';

export interface SessionOptions {
  mode: 'attach' | 'run';
  /** --backend; absent: auto. */
  backend?: BackendChoice;
  /** Attach mode: a pid already checked by checkAttachable. */
  pid?: number;
  /** Run mode: the resolved executable, argv and environment. */
  path?: string;
  argv?: string[];
  env?: string[];
  /** ptrace run mode: limit stops to catalogued syscalls with seccomp. */
  seccomp: boolean;
  /** Attach mode: also trace the processes the target already has (--children). */
  children?: boolean;
  /** Run mode: the command's stdout goes to stderr. */
  stdoutToStderr?: boolean;
  durationMs?: number;
  intervalMs: number;
  record?: string;
  /** --events: each snapshot line of the recording is followed by an events line (needs record). */
  events?: boolean;
  /** --events-max: events kept per recording; past it they are dropped and counted. */
  eventsMax?: number;
  /** Called once per interval with the newest and the previous snapshot. */
  onSnapshot?: (cur: Snapshot, prev: Snapshot | undefined) => void;
  /** Messages for the user while the session runs (stderr). */
  warn: (message: string) => void;
}

export interface SessionResult {
  summary: Summary;
  exit: TargetExit | null;
  /** The last snapshot, taken after the detach: the one the summary is made from. */
  snapshot: Snapshot;
}

/**
 * The backend asked for, or for auto the eBPF one if its probes load and
 * ptrace otherwise, with the reason in words for the header, --json and the
 * recording. A failed eBPF load happens before anything touches the target.
 */
function startBackend(choice: BackendChoice, start: Omit<NativeStart, 'backend'>): { backend: NativeBackend; reason: string } {
  const attachPid = start.mode === 'attach' ? start.pid ?? 0 : 0;
  if (choice === 'ptrace') checkPtraceable(attachPid);
  if (choice !== 'auto') return { backend: new NativeBackend({ ...start, backend: choice }), reason: `--backend ${choice}` };
  try {
    return { backend: new NativeBackend({ ...start, backend: 'ebpf' }), reason: 'auto: the eBPF probes loaded' };
  } catch (err) {
    if (!(err instanceof IotraceError) || err.code === 'ESRCH' || !/eBPF backend cannot load/.test(err.message)) throw err;
    const why = err.message.replace(/^the eBPF backend cannot load its probes: /, '').replace(/; --backend ptrace.*$/, '');
    checkPtraceable(attachPid, why);
    return { backend: new NativeBackend({ ...start, backend: 'ptrace' }), reason: `ebpf unavailable: ${why}; using ptrace` };
  }
}

/** How often the session looks for the target's exit, and for the duration's end. */
const POLL_MS = 50;

export class Session {
  readonly header: SessionHeader;
  private readonly backend: Backend;
  /** Replaced by startRecording/stopRecording (the dashboard's r key). */
  private recorder: Recorder | undefined;
  private last: Snapshot | undefined;
  private readonly warnings: string[] = [];
  private endReason: string | undefined;
  private wake: (() => void) | undefined;
  /** --events: events written to the current recording, and those discarded past --events-max. */
  private eventsRecorded = 0;
  private eventsDiscarded = 0;
  private eventsRingDropped = 0;
  /** --events: drained since the last events line, written with the next one. */
  private pendingEvents: Float64Array[] = [];

  constructor(private readonly opts: SessionOptions) {
    if (opts.events && !opts.record) {
      throw new IotraceError('EUSAGE', '--events needs --record <file>: the timeline is kept in the recording', EXIT_USAGE);
    }
    // A bad recording path fails before the target is touched; the file is
    // created only once the attach has succeeded.
    if (opts.record) checkRecordingPath(opts.record);
    // The /proc picture first: it costs the target nothing and holds what
    // happened before the attach (epoll registrations, rings, O_ASYNC).
    const inspection = opts.mode === 'attach' && opts.pid ? this.inspect(opts.pid, opts.children === true) : undefined;
    const start: Omit<NativeStart, 'backend'> = {
      mode: opts.mode,
      pid: opts.pid,
      path: opts.path,
      argv: opts.argv,
      env: opts.env,
      seccomp: opts.mode === 'run' && opts.seccomp,
      stdoutToStderr: opts.stdoutToStderr,
      extraPids: opts.mode === 'attach' && opts.children && opts.pid ? descendants(opts.pid) : [],
      events: opts.events === true,
    };
    const { backend, reason } = startBackend(opts.backend ?? 'auto', start);
    this.backend = backend;
    try {
      this.recorder = opts.record ? new Recorder(opts.record) : undefined;
    } catch (err) {
      this.backend.stop();
      throw err;
    }
    // In run mode /proc still shows the forked iotrace until the exec: name
    // the command instead.
    const target =
      opts.mode === 'run' && opts.argv && opts.path
        ? { pid: this.backend.pid, comm: path.basename(opts.path).slice(0, 15), cmdline: opts.argv.join(' '), exe: opts.path }
        : readTargetInfo(this.backend.pid);
    this.header = {
      type: 'header',
      schema: RECORDING_SCHEMA,
      iotraceVersion: VERSION,
      backend: this.backend.name,
      backendReason: reason,
      mode: opts.mode,
      seccomp: this.backend.name === 'ptrace' && opts.mode === 'run' && opts.seccomp,
      target,
      host: { hostname: os.hostname(), kernel: os.release(), arch: os.arch(), cpus: os.cpus().length },
      startTime: new Date().toISOString(),
      intervalMs: opts.intervalMs,
      ...(inspection ? { inspection } : {}),
      ...(opts.events ? { events: true as const } : {}),
    };
    this.record({ ...this.header });
  }

  get pid(): number {
    return this.backend.pid;
  }

  /** Ends the session at the next poll (a signal, a key). */
  stop(reason: string): void {
    if (!this.endReason) this.endReason = reason;
    this.wake?.();
  }

  /** Runs until the end; always detaches, even when a listener throws. */
  async run(): Promise<SessionResult> {
    const started = Date.now();
    let nextSnapshot = started + this.opts.intervalMs;
    let prev: Snapshot | undefined;
    try {
      while (!this.endReason) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, POLL_MS);
        });
        this.wake = undefined;
        if (this.endReason) break;
        this.pullEvents();
        const now = Date.now();
        if (this.backend.status().targetGone) this.endReason = 'target-exit';
        else if (this.opts.durationMs !== undefined && now - started >= this.opts.durationMs) this.endReason = 'duration';
        if (now >= nextSnapshot && !this.endReason) {
          nextSnapshot += this.opts.intervalMs * Math.max(1, Math.ceil((now - nextSnapshot) / this.opts.intervalMs));
          const cur = this.backend.snapshot();
          this.recordSnapshot(cur);
          this.opts.onSnapshot?.(cur, prev);
          prev = cur;
          this.last = cur;
        }
      }
    } finally {
      if (this.header.seccomp && !this.backend.status().targetGone) await this.endFilteredCommand();
      const warning = this.backend.stop();
      if (warning) this.note(warning);
    }
    const last = this.backend.snapshot();
    const status = this.backend.status();
    this.recordSnapshot(last);
    if (this.opts.events && (this.eventsRingDropped || this.eventsDiscarded)) {
      this.warnings.push(
        `--events: ${this.eventsRingDropped + this.eventsDiscarded} events not recorded ` +
          `(${this.eventsRingDropped} with the ring full, ${this.eventsDiscarded} past --events-max ${this.eventsMax})`,
      );
    }
    // The summary line itself is lost too, if the recording stopped.
    const lost = this.recorder?.lossWarning(1);
    if (lost) this.warnings.push(lost);
    const summary = summarize({
      header: this.header,
      snapshot: last,
      endReason: this.endReason ?? 'detach',
      exit: status.exit,
      warnings: [...this.warnings],
    });
    this.record({ type: 'summary', summary });
    this.recorder?.close();
    return { summary, exit: status.exit, snapshot: last };
  }

  /** The file being recorded to, if any. */
  get recording(): string | undefined {
    return this.recorder?.file;
  }

  /** The file being recorded to and, if it stopped (disk full, file removed), why: for the dashboard's header. */
  get recordingLabel(): string | undefined {
    return this.recorder?.label();
  }

  /**
   * Starts recording mid-session: the header, then the latest snapshot, so
   * the file is a recording `report` reads from the first moment. Its
   * snapshots keep the session's clock (tNs since the session started).
   */
  startRecording(file: string): void {
    if (this.recorder) throw new IotraceError('ERECORD', `already recording to ${this.recorder.file}`);
    checkRecordingPath(file);
    this.recorder = new Recorder(file);
    this.eventsRecorded = 0;
    this.record({ ...this.header });
    if (this.last) this.recordSnapshot(this.last);
  }

  /** Ends a recording while the session goes on: a last snapshot and a summary line, as at the end of a session. */
  stopRecording(): string | undefined {
    const rec = this.recorder;
    if (!rec) return undefined;
    const now = this.backend.snapshot();
    this.recordSnapshot(now);
    const summary = summarize({ header: this.header, snapshot: now, endReason: 'recording stopped (the session went on)', exit: null, warnings: [...this.warnings] });
    this.record({ type: 'summary', summary });
    rec.close();
    this.recorder = undefined;
    // Kept for the session's summary: that recording lost lines.
    const lost = rec.lossWarning(0);
    if (lost) this.warnings.push(lost);
    return rec.file;
  }

  /**
   * A command started under run mode's seccomp filter fails every I/O
   * syscall with ENOSYS once no tracer is attached (the filter cannot be
   * removed), so it cannot be left running: it gets SIGTERM and 2 s to end;
   * whatever is left is killed by the detach.
   */
  private async endFilteredCommand(): Promise<void> {
    this.note(
      `ending the command (pid ${this.pid}): started under the seccomp filter it cannot run untraced; --all-syscalls lets a command run on after iotrace`,
    );
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    const deadline = Date.now() + 2000;
    while (!this.backend.status().targetGone && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  private inspect(pid: number, children: boolean): Inspection | undefined {
    try {
      return readInspection(pid, { children });
    } catch (err) {
      // Attach gives the real error (no such pid, permission) right after.
      if (err instanceof IotraceError) return undefined;
      throw err;
    }
  }

  private classify(s: Snapshot): Classification | undefined {
    // Only a recording keeps per-snapshot classifications.
    return this.recorder ? classify({ window: s, inspection: this.header.inspection ?? null }) : undefined;
  }

  private note(message: string): void {
    this.warnings.push(message);
    this.opts.warn(message);
  }

  private get eventsMax(): number {
    return this.opts.eventsMax ?? EVENTS_MAX_DEFAULT;
  }

  /**
   * --events: empties the backend's ring into the pending events line, up to
   * --events-max per recording, the rest counted as dropped. Called at every
   * poll (50 ms), not only per snapshot: the ring then needs room for 50 ms of
   * events, not a whole interval's.
   */
  private pullEvents(): void {
    if (!this.opts.events) return;
    const room = this.recorder ? Math.max(0, this.eventsMax - this.eventsRecorded) : 0;
    const batch = this.backend.drainEvents(room);
    if (batch.events.length) this.pendingEvents.push(batch.events);
    this.eventsRecorded += batch.events.length / EVENT_COLUMNS.length;
    this.eventsDiscarded += batch.discarded;
    this.eventsRingDropped = batch.dropped;
  }

  /**
   * The snapshot line and, with --events, the events line after it: the
   * events pulled since the last one, and the drops so far (also in the
   * snapshot's counters).
   */
  private recordSnapshot(cur: Snapshot): void {
    if (!this.opts.events) {
      this.record({ type: 'snapshot', snapshot: cur, classification: this.classify(cur) });
      return;
    }
    this.pullEvents();
    const dropped = this.eventsRingDropped + this.eventsDiscarded;
    cur.counters.eventsDropped = dropped;
    this.record({ type: 'snapshot', snapshot: cur, classification: this.classify(cur) });
    const chunks = this.pendingEvents;
    this.pendingEvents = [];
    const warning = this.recorder?.writeJson(formatEventsLine(cur.tNs, dropped, chunks));
    if (warning) this.note(warning);
  }

  private record(line: Parameters<Recorder['write']>[0]): void {
    const warning = this.recorder?.write(line);
    if (warning) this.note(warning);
  }
}
