// SPDX-License-Identifier: MIT
// Colours, or none at all when NO_COLOR is set (https://no-color.org): the
// dashboard then tells things apart by text (the › marker, the ▸ on the
// focused panel's label), never by colour alone.
import type { RateGroup } from '../agent/snapshot';

export interface Theme {
  color: boolean;
  border: { fg?: string };
  focusBorder: { fg?: string };
  /** contrib.line colours; 'normal' is the terminal's default colour. */
  chart: { text: string; baseline: string; series: Record<RateGroup, string> };
}

export function noColorRequested(env: NodeJS.ProcessEnv): boolean {
  return (env.NO_COLOR ?? '') !== '';
}

export function themeFor(noColor: boolean): Theme {
  if (noColor) {
    const n = 'normal';
    return { color: false, border: {}, focusBorder: {}, chart: { text: n, baseline: n, series: { wait: n, read: n, write: n, 'zero-copy': n, other: n } } };
  }
  return {
    color: true,
    border: { fg: 'cyan' },
    focusBorder: { fg: 'yellow' },
    chart: { text: 'white', baseline: 'white', series: { wait: 'cyan', read: 'green', write: 'yellow', 'zero-copy': 'magenta', other: 'white' } },
  };
}
