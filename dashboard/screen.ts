// SPDX-License-Identifier: MIT
// The blessed screen and its widgets, placed by layout.ts. It only shows what
// it is given; the controller (dashboard.ts) decides what. Nothing else may
// write to the terminal while it is up.
import * as blessed from 'blessed';
import * as contrib from 'blessed-contrib';

import { layoutFor, type PanelId, type Place } from './layout';
import { cut } from './model/table';
import type { Theme } from './theme';

export class DashboardScreen {
  private readonly screen: blessed.Widgets.Screen;
  private panels = new Map<PanelId, blessed.Widgets.BoxElement>();
  private chart: contrib.LineElement | undefined;
  private places: Place[] = [];
  private compactLayout = false;
  private help: blessed.Widgets.BoxElement | undefined;
  private destroyed = false;

  constructor(
    private readonly theme: Theme,
    title: string,
    onKey: (full: string, ch: string | undefined) => void,
    private readonly onResize: () => void,
  ) {
    this.screen = blessed.screen({
      smartCSR: true,
      fullUnicode: true,
      forceUnicode: true,
      warnings: false,
      title,
      autoPadding: true,
    });
    // Unicode box lines and dots rather than the terminal's ACS set, which
    // blessed picks under tmux and screen: capture-pane (the tests, the
    // README's screenshots) and copy-paste then get real text.
    (this.screen.tput as unknown as { brokenACS: boolean }).brokenACS = true;
    this.screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg) => onKey(key.full, ch));
    this.screen.on('resize', () => {
      this.build();
      this.onResize();
    });
    this.build();
  }

  get compact(): boolean {
    return this.compactLayout;
  }

  has(id: PanelId): boolean {
    return this.panels.has(id) || (id === 'rates' && this.chart !== undefined);
  }

  /** Lines and columns inside a panel's border (the header has none). */
  inner(id: PanelId): { width: number; height: number } {
    const p = this.places.find((x) => x.id === id);
    if (!p) return { width: 0, height: 0 };
    const b = id === 'header' ? 0 : 2;
    return { width: Math.max(0, p.width - b), height: Math.max(0, p.height - b) };
  }

  setPanel(id: PanelId, label: string, lines: string[], focused: boolean): void {
    const box = this.panels.get(id);
    if (!box) return;
    if (id !== 'header') {
      // A label wider than its border would wrap into the content.
      box.setLabel(cut(` ${focused ? '▸ ' : ''}${label} `, this.inner(id).width - 1));
      box.style.border = focused ? { ...this.theme.focusBorder } : { ...this.theme.border };
    }
    box.setContent(lines.join('\n'));
  }

  setRates(label: string, series: contrib.LineSeries[]): void {
    if (!this.chart) return;
    this.chart.setLabel(cut(` ${label} `, this.inner('rates').width - 1));
    // contrib.line needs at least two points to draw a line.
    if (series.length && series[0].x.length >= 2) this.chart.setData(series);
  }

  showHelp(lines: string[]): void {
    this.hideHelp();
    const width = Math.min(this.screen.width as number, Math.max(...lines.map((l) => l.length)) + 4);
    const height = Math.min(this.screen.height as number, lines.length + 2);
    this.help = blessed.box({
      parent: this.screen,
      top: 'center',
      left: 'center',
      width,
      height,
      label: ' help: keys (? or escape closes) ',
      content: lines.join('\n'),
      border: { type: 'line' },
      style: { border: { ...this.theme.focusBorder } },
    });
  }

  hideHelp(): void {
    this.help?.destroy();
    this.help = undefined;
  }

  get helpShown(): boolean {
    return this.help !== undefined;
  }

  render(): void {
    if (!this.destroyed) this.screen.render();
  }

  /** Gives the terminal back: normal screen, cursor, cooked mode. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.screen.destroy();
  }

  private build(): void {
    for (const p of this.panels.values()) p.destroy();
    this.chart?.destroy();
    this.panels.clear();
    this.chart = undefined;
    const helpLines = this.help ? this.help.getContent().split('\n') : undefined;
    this.hideHelp();
    const { compact, places } = layoutFor(this.screen.width as number, this.screen.height as number);
    this.compactLayout = compact;
    this.places = places;
    for (const p of places) {
      const pos = { top: p.top, left: p.left, width: p.width, height: p.height };
      if (p.id === 'rates') {
        const c = this.theme.chart;
        this.chart = contrib.line({
          ...pos,
          border: { type: 'line' },
          style: { border: { ...this.theme.border }, text: c.text, baseline: c.baseline },
          minY: 0,
          xPadding: 3,
          xLabelPadding: 3,
          wholeNumbersOnly: true,
          label: ' syscalls/s ',
        });
        this.screen.append(this.chart);
        continue;
      }
      const box = blessed.box({
        ...pos,
        ...(p.id === 'header' ? {} : { border: { type: 'line' as const }, style: { border: { ...this.theme.border } } }),
        tags: false,
        wrap: false,
      });
      this.screen.append(box);
      this.panels.set(p.id, box);
    }
    if (helpLines) this.showHelp(helpLines);
  }
}
