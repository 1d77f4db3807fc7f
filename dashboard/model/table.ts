// SPDX-License-Identifier: MIT
// Text tables that fit a panel's width: columns are dropped least important
// first, then the one flexible text column is cut, so a narrow terminal
// loses detail instead of wrapping into garbage.

export interface Column {
  head: string;
  align: 'left' | 'right';
  /** Dropped first when the width is short: higher numbers go first; 0 is never dropped. */
  drop: number;
  /** The one column cut (with …) to make the rest fit, down to this many characters before other columns go. */
  flex?: number;
}

export function cut(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : text.slice(0, width - 1) + '…';
}

/**
 * Lines (a head line, then one per row) no longer than width. Each row may
 * carry a one-character marker (selection) placed before it.
 */
export function fitTable(cols: Column[], rows: string[][], width: number, markers?: string[]): string[] {
  const natural = cols.map((c, i) => Math.max(c.head.length, ...rows.map((r) => r[i].length)));
  const keep = cols.map(() => true);
  const lead = markers ? 1 : 0;
  const total = (): number => lead + natural.reduce((n, w, i) => n + (keep[i] ? w + 1 : 0), 0) - 1;
  const order = cols.map((c, i) => i).filter((i) => cols[i].drop > 0).sort((a, b) => cols[b].drop - cols[a].drop || b - a);
  const widths = natural.slice();
  const flex = cols.findIndex((c) => c.flex);
  for (const i of order) {
    if (total() <= width) break;
    if (flex >= 0 && total() - natural[flex] + Math.min(natural[flex], cols[flex].flex ?? 0) <= width) break;
    keep[i] = false;
  }
  const over = total() - width;
  if (over > 0 && flex >= 0 && keep[flex]) widths[flex] = Math.max(1, natural[flex] - over);
  const line = (cells: string[], marker: string): string =>
    (markers ? marker : '') +
    cells
      .map((cell, i) => {
        if (!keep[i]) return undefined;
        const c = cut(cell, widths[i]);
        return cols[i].align === 'left' ? c.padEnd(widths[i]) : c.padStart(widths[i]);
      })
      .filter((c): c is string => c !== undefined)
      .join(' ')
      .trimEnd();
  return [line(cols.map((c) => c.head), ' '), ...rows.map((r, i) => line(r, markers?.[i] ?? ' '))].map((l) => cut(l, width));
}
