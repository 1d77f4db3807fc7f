// SPDX-License-Identifier: MIT
// The dashboard's controller: keeps the state fed by snapshots, turns keys
// into actions and redraws on a timer, only when something changed. All it
// reads are snapshots and the session header, live or replayed alike.
import type { SessionHeader } from '../agent/recording-schema';
import type { Snapshot } from '../agent/snapshot';
import { actionFor, helpLines, type Action, type Mode } from './keys';
import { FOCUSABLE, type PanelId } from './layout';
import { dataPathLines } from './model/datapath';
import { fdLines } from './model/fds';
import { headerLines, type HeaderStatus } from './model/header';
import { histogramLines } from './model/histogram';
import { rateSeries, ratesLabel } from './model/rates';
import { nextSort, syscallRows, syscallTable, type SortKey } from './model/syscalls';
import { threadLines } from './model/threads';
import { verdictLines } from './model/verdict';
import { DashboardScreen } from './screen';
import { emptyState, pushSnapshot, type DashState } from './state';
import { noColorRequested, themeFor, type Theme } from './theme';

/** Redraws at most this often; snapshots come once per interval (1 s by default). */
const REFRESH_MS = 250;

export interface DashboardOptions {
  header: SessionHeader;
  mode: Mode;
  /** q or Ctrl-C. The owner ends the session (or the replay) and then calls close(). */
  onQuit: () => void;
  /** r, live: starts or stops recording; returns a line for the header. */
  onRecord?: () => string;
  /** The file being recorded to now, live. */
  recording?: () => string | undefined;
  /** Replay's keys (play, step, speed, seek). */
  onReplayKey?: (a: Action) => void;
  replayStatus?: () => HeaderStatus['source'];
  env?: NodeJS.ProcessEnv;
}

export class Dashboard {
  private state: DashState;
  /** What the view shows while paused; tracing (and state) goes on meanwhile. */
  private frozen: DashState | undefined;
  private sort: SortKey = 'rate';
  private selected: string | undefined;
  private focus: PanelId = 'syscalls';
  private scroll: Partial<Record<PanelId, number>> = {};
  private message: string | undefined;
  private dirty = true;
  private readonly screen: DashboardScreen;
  private readonly theme: Theme;
  private readonly timer: NodeJS.Timeout;
  private readonly restoreOnExit = (): void => this.screen.destroy();
  private closed = false;

  constructor(private readonly opts: DashboardOptions) {
    this.state = emptyState(opts.header);
    this.theme = themeFor(noColorRequested(opts.env ?? process.env));
    this.screen = new DashboardScreen(this.theme, `iotrace ${opts.header.target.pid}`, (full, ch) => this.key(full, ch), () => this.redraw());
    // Whatever ends the process (a bug, process.exit), the terminal comes back.
    process.on('exit', this.restoreOnExit);
    this.timer = setInterval(() => {
      if (this.dirty) this.redraw();
    }, REFRESH_MS);
    this.redraw();
  }

  push(snap: Snapshot): void {
    this.state = pushSnapshot(this.state, snap);
    this.dirty = true;
  }

  /** Replay's seek: the history up to the new position, the classification of its last snapshot. */
  reset(snaps: Snapshot[]): void {
    let s = emptyState(this.opts.header);
    snaps.forEach((snap, i) => (s = pushSnapshot(s, snap, i === snaps.length - 1)));
    this.state = s;
    if (this.frozen) this.frozen = s;
    this.dirty = true;
  }

  notify(message: string): void {
    this.message = message;
    this.dirty = true;
  }

  /** Gives the terminal back. Safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.screen.destroy();
    process.off('exit', this.restoreOnExit);
  }

  private key(full: string, ch: string | undefined): void {
    const action = actionFor(full, this.opts.mode) ?? (ch ? actionFor(ch, this.opts.mode) : undefined);
    if (!action || this.closed) return;
    if (this.screen.helpShown && action !== 'quit') {
      // Any key closes the help; ? and escape only do that.
      this.screen.hideHelp();
      if (action === 'help' || action === 'close') return this.redraw();
    }
    switch (action) {
      case 'quit':
        this.notify('quitting…');
        this.redraw();
        this.opts.onQuit();
        return;
      case 'help':
        this.screen.showHelp(helpLines(this.opts.mode));
        break;
      case 'close':
        break;
      case 'pause':
        this.frozen = this.frozen ? undefined : this.state;
        break;
      case 'focus-next':
      case 'focus-prev':
        this.moveFocus(action === 'focus-next' ? 1 : -1);
        break;
      case 'up':
      case 'down':
      case 'page-up':
      case 'page-down':
        this.move(action);
        break;
      case 'select':
        if (this.focus !== 'syscalls') this.focus = 'syscalls';
        break;
      case 'sort':
        this.sort = nextSort(this.sort);
        break;
      case 'record':
        if (this.opts.onRecord) this.message = this.opts.onRecord();
        break;
      default:
        this.opts.onReplayKey?.(action);
    }
    // Key to screen at once, not at the next tick.
    this.redraw();
  }

  private focusable(): PanelId[] {
    return FOCUSABLE.filter((id) => this.screen.has(id));
  }

  private moveFocus(step: number): void {
    const ids = this.focusable();
    const i = ids.indexOf(this.focus);
    this.focus = ids[(i + step + ids.length) % ids.length] ?? 'syscalls';
  }

  private move(action: 'up' | 'down' | 'page-up' | 'page-down'): void {
    const page = Math.max(1, this.screen.inner(this.focus).height - 2);
    const step = action === 'up' ? -1 : action === 'down' ? 1 : action === 'page-up' ? -page : page;
    if (this.focus === 'syscalls') {
      const s = this.shown();
      const rows = syscallRows(s.prev, s.cur, this.sort);
      if (!rows.length) return;
      const i = Math.max(0, rows.findIndex((r) => r.name === this.selected));
      this.selected = rows[Math.min(rows.length - 1, Math.max(0, i + step))].name;
      return;
    }
    this.scroll[this.focus] = Math.max(0, (this.scroll[this.focus] ?? 0) + step);
  }

  private shown(): DashState {
    return this.frozen ?? this.state;
  }

  private status(): HeaderStatus {
    return {
      source: this.opts.replayStatus?.() ?? { kind: 'live' },
      paused: this.frozen !== undefined,
      recording: this.opts.recording?.(),
      message: this.message,
    };
  }

  /** A panel's lines from the scroll offset on, the offset kept within the content. */
  private scrolled(id: PanelId, lines: string[], fixed = 0): string[] {
    const h = this.screen.inner(id).height;
    const max = Math.max(0, lines.length - h);
    const off = Math.min(this.scroll[id] ?? 0, max);
    this.scroll[id] = off;
    return [...lines.slice(0, fixed), ...lines.slice(fixed + off)];
  }

  private redraw(): void {
    if (this.closed) return;
    this.dirty = false;
    const s = this.shown();
    const sc = this.screen;
    const w = (id: PanelId): number => sc.inner(id).width;
    sc.setPanel('header', '', headerLines(s.header, s.prev, s.cur, this.status(), w('header')), false);
    sc.setPanel('verdict', 'verdict', this.scrolled('verdict', verdictLines(s.classification)), this.focus === 'verdict');

    const rows = syscallRows(s.prev, s.cur, this.sort);
    if (!rows.some((r) => r.name === this.selected)) this.selected = rows[0]?.name;
    const sel = rows.findIndex((r) => r.name === this.selected);
    // The selected row stays in view: the rows scroll under the fixed head line.
    const visible = Math.max(1, sc.inner('syscalls').height - 1);
    const top = Math.min(Math.max(0, this.scroll.syscalls ?? 0, sel - visible + 1), Math.max(0, sel));
    this.scroll.syscalls = top;
    const table = syscallTable(rows, this.selected, w('syscalls'));
    sc.setPanel('syscalls', `syscalls (sort: ${this.sort}; s cycles)`, [table[0], ...table.slice(1 + top)], this.focus === 'syscalls');

    const stat = rows[sel]?.stat;
    sc.setPanel('histogram', `latency: ${stat?.name ?? '…'} (log2 buckets)`, histogramLines(stat, w('histogram'), sc.inner('histogram').height), false);
    sc.setPanel('datapath', 'data path', dataPathLines(s.classification, w('datapath')), false);
    sc.setPanel('threads', 'threads: who waits where', this.scrolled('threads', threadLines(s.prev, s.cur, w('threads')), 1), this.focus === 'threads');
    sc.setPanel('fds', 'file descriptors by bytes', this.scrolled('fds', fdLines(s.cur, w('fds'), 100), 1), this.focus === 'fds');
    if (sc.has('rates')) sc.setRates(ratesLabel(s.rates), rateSeries(s.rates, this.theme));
    sc.render();
  }
}
