// SPDX-License-Identifier: MIT
// Keys to actions, in one table for the help overlay and the handler alike.

export type Action =
  | 'quit'
  | 'pause'
  | 'focus-next'
  | 'focus-prev'
  | 'up'
  | 'down'
  | 'page-up'
  | 'page-down'
  | 'select'
  | 'sort'
  | 'record'
  | 'help'
  | 'close'
  | 'play'
  | 'step-forward'
  | 'step-back'
  | 'faster'
  | 'slower'
  | 'seek-start'
  | 'seek-end';

export type Mode = 'live' | 'replay';

interface Binding {
  keys: string[];
  action: Action;
  help: string;
  /** Only in this mode; both when absent. */
  mode?: Mode;
}

export const BINDINGS: readonly Binding[] = [
  { keys: ['q', 'C-c'], action: 'quit', help: 'quit (live: detach cleanly, finish the recording)' },
  { keys: ['p'], action: 'pause', help: 'pause the view (tracing goes on)' },
  { keys: ['tab'], action: 'focus-next', help: 'move the focus to the next panel' },
  { keys: ['S-tab'], action: 'focus-prev', help: 'move the focus back' },
  { keys: ['up', 'k'], action: 'up', help: 'select the row above / scroll up' },
  { keys: ['down', 'j'], action: 'down', help: 'select the row below / scroll down' },
  { keys: ['pageup'], action: 'page-up', help: 'a page up' },
  { keys: ['pagedown'], action: 'page-down', help: 'a page down' },
  { keys: ['enter'], action: 'select', help: 'show the selected syscall in the histogram' },
  { keys: ['s'], action: 'sort', help: 'cycle the syscall sort (rate, time, calls, errors, p99, bytes, name)' },
  { keys: ['r'], action: 'record', help: 'start / stop recording to a file', mode: 'live' },
  { keys: ['space'], action: 'play', help: 'play / pause the replay', mode: 'replay' },
  { keys: ['right', 'n'], action: 'step-forward', help: 'one snapshot forward', mode: 'replay' },
  { keys: ['left', 'b'], action: 'step-back', help: 'one snapshot back', mode: 'replay' },
  { keys: [']', '+'], action: 'faster', help: 'play twice as fast', mode: 'replay' },
  { keys: ['[', '-'], action: 'slower', help: 'play half as fast', mode: 'replay' },
  { keys: ['home', 'g'], action: 'seek-start', help: 'seek to the start', mode: 'replay' },
  { keys: ['end', 'G'], action: 'seek-end', help: 'seek to the end', mode: 'replay' },
  { keys: ['?', 'h'], action: 'help', help: 'this help' },
  { keys: ['escape'], action: 'close', help: 'close this help' },
];

/** blessed's key name ('C-c', 'S-tab', 'space', 'q') → the action in this mode. */
export function actionFor(full: string, mode: Mode): Action | undefined {
  return BINDINGS.find((b) => (!b.mode || b.mode === mode) && b.keys.includes(full))?.action;
}

export function helpLines(mode: Mode): string[] {
  const rows = BINDINGS.filter((b) => !b.mode || b.mode === mode).map((b) => [b.keys.join(' / '), b.help]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, h]) => `${k.padEnd(w)}  ${h}`);
}
