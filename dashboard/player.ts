// SPDX-License-Identifier: MIT
// Replay: plays a recording's snapshots into the dashboard at their recorded
// pace times the speed, with pause, step, seek and speed keys. It reads the
// snapshots through load(i), one at a time, never the whole file.
import type { SessionHeader } from '../agent/recording-schema';
import type { Snapshot } from '../agent/snapshot';
import { Dashboard } from './dashboard';
import type { Action } from './keys';

export interface ReplaySource {
  file: string;
  header: SessionHeader;
  count: number;
  /** Nanoseconds since the session started, of snapshot i. */
  timeNs(i: number): number;
  load(i: number): Snapshot;
}

/** Snapshots re-read to refill the rate chart after a seek or a step back. */
const SEEK_HISTORY = 60;
const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];

export function nearestSpeed(speed: number): number {
  return SPEEDS.reduce((a, b) => (Math.abs(b - speed) < Math.abs(a - speed) ? b : a));
}

export class ReplayPlayer {
  private pos = 0;
  private playing = true;
  private speed: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly dash: Dashboard;
  private done: (() => void) | undefined;

  constructor(
    private readonly src: ReplaySource,
    opts: { speed: number; fromSec: number },
  ) {
    this.speed = opts.speed;
    const from = opts.fromSec * 1e9;
    let start = 0;
    while (start < src.count - 1 && src.timeNs(start) < from) start++;
    this.dash = new Dashboard({
      header: src.header,
      mode: 'replay',
      onQuit: () => this.done?.(),
      onReplayKey: (a) => this.key(a),
      replayStatus: () => ({
        kind: 'replay',
        file: src.file,
        index: this.pos,
        count: src.count,
        endSec: src.timeNs(src.count - 1) / 1e9,
        playing: this.playing,
        speed: this.speed,
      }),
    });
    this.seek(start);
  }

  /** Resolves on q or Ctrl-C; the terminal is given back first. */
  run(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.done = () => {
        this.stopTimer();
        this.dash.close();
        resolve();
      };
    });
  }

  /** Gives the terminal back (an error on the way out). */
  close(): void {
    this.stopTimer();
    this.dash.close();
  }

  private key(a: Action): void {
    switch (a) {
      case 'play':
        this.playing = !this.playing;
        this.schedule();
        break;
      case 'step-forward':
        this.playing = false;
        this.schedule();
        this.forward();
        break;
      case 'step-back':
        this.playing = false;
        this.schedule();
        if (this.pos > 0) this.seek(this.pos - 1);
        break;
      case 'faster':
      case 'slower': {
        const i = SPEEDS.indexOf(nearestSpeed(this.speed));
        this.speed = SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, i + (a === 'faster' ? 1 : -1)))];
        this.schedule();
        break;
      }
      case 'seek-start':
        this.seek(0);
        break;
      case 'seek-end':
        this.seek(this.src.count - 1);
        break;
      default:
        break;
    }
  }

  private forward(): void {
    if (this.pos >= this.src.count - 1) return;
    this.pos++;
    this.dash.push(this.src.load(this.pos));
  }

  private seek(i: number): void {
    this.pos = i;
    const first = Math.max(0, i - SEEK_HISTORY + 1);
    const snaps: Snapshot[] = [];
    for (let k = first; k <= i; k++) snaps.push(this.src.load(k));
    this.dash.reset(snaps);
    this.schedule();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The next snapshot after its recorded gap divided by the speed; nothing while stopped or at the end. */
  private schedule(): void {
    this.stopTimer();
    if (this.pos >= this.src.count - 1) this.playing = false;
    if (!this.playing) return;
    const gapMs = (this.src.timeNs(this.pos + 1) - this.src.timeNs(this.pos)) / 1e6 / this.speed;
    this.timer = setTimeout(() => {
      this.forward();
      this.schedule();
    }, Math.max(10, gapMs));
  }
}
