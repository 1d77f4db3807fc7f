// SPDX-License-Identifier: MIT
// Where each panel goes for a terminal size. Computed in whole cells rather
// than on blessed-contrib's percentage grid: the header keeps exactly two
// lines at every height, and below 80×24 the layout keeps only what matters
// most (header, verdict, syscall table) instead of squeezing everything.

export type PanelId = 'header' | 'verdict' | 'datapath' | 'syscalls' | 'histogram' | 'rates' | 'threads' | 'fds';

export interface Place {
  id: PanelId;
  top: number;
  left: number;
  width: number;
  height: number;
}

export const MIN_FULL_COLS = 80;
export const MIN_FULL_ROWS = 24;
const HEADER_ROWS = 2;

export function layoutFor(cols: number, rows: number): { compact: boolean; places: Place[] } {
  const rest = Math.max(0, rows - HEADER_ROWS);
  const header: Place = { id: 'header', top: 0, left: 0, width: cols, height: HEADER_ROWS };
  if (cols < MIN_FULL_COLS || rows < MIN_FULL_ROWS) {
    const verdict = Math.min(rest, Math.max(4, Math.floor(rest * 0.4)));
    return {
      compact: true,
      places: [
        header,
        { id: 'verdict', top: HEADER_ROWS, left: 0, width: cols, height: verdict },
        { id: 'syscalls', top: HEADER_ROWS + verdict, left: 0, width: cols, height: rest - verdict },
      ],
    };
  }
  const h1 = Math.floor(rest * 0.3);
  const h2 = Math.floor(rest * 0.37);
  const h3 = rest - h1 - h2;
  const left = Math.round(cols * 0.62);
  const third = Math.round(cols / 3);
  const t1 = HEADER_ROWS;
  const t2 = t1 + h1;
  const t3 = t2 + h2;
  return {
    compact: false,
    places: [
      header,
      { id: 'verdict', top: t1, left: 0, width: left, height: h1 },
      { id: 'datapath', top: t1, left, width: cols - left, height: h1 },
      { id: 'syscalls', top: t2, left: 0, width: left, height: h2 },
      { id: 'histogram', top: t2, left, width: cols - left, height: h2 },
      { id: 'rates', top: t3, left: 0, width: third, height: h3 },
      { id: 'threads', top: t3, left: third, width: third, height: h3 },
      { id: 'fds', top: t3, left: 2 * third, width: cols - 2 * third, height: h3 },
    ],
  };
}

/** Panels that take the focus (tab), in tab order. */
export const FOCUSABLE: readonly PanelId[] = ['syscalls', 'threads', 'fds', 'verdict'];
