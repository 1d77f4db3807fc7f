// SPDX-License-Identifier: MIT
// The little of blessed-contrib the dashboard uses. tsconfig's paths points
// the package here: the index.d.ts it ships does not type-check (its Bar and
// Gauge setData overloads clash with their base class).
import type { Widgets } from 'blessed';

export interface LineSeries {
  title: string;
  x: string[];
  y: number[];
  style?: { line?: string };
}

export interface LineOptions extends Widgets.BoxOptions {
  showLegend?: boolean;
  legend?: { width?: number };
  minY?: number;
  wholeNumbersOnly?: boolean;
  xLabelPadding?: number;
  xPadding?: number;
  numYLabels?: number;
  showNthLabel?: number;
  style?: Widgets.BoxOptions['style'] & { line?: string; text?: string; baseline?: string };
}

export interface LineElement extends Widgets.BoxElement {
  setData(series: LineSeries[]): void;
}

export declare function line(options: LineOptions): LineElement;
