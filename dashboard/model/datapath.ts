// SPDX-License-Identifier: MIT
// The data path: bytes copied through user space against bytes moved without
// a user copy, as two bars, and what a request costs in copies and switches.
import { fig } from '../../agent/classify/facts';
import type { Classification } from '../../agent/classify/vocabulary';
import { fmtBytes } from '../../agent/format';

function bar(share: number, width: number, full: string, empty: string): string {
  const n = Math.round(share * width);
  return full.repeat(n) + empty.repeat(width - n);
}

export function dataPathLines(c: Classification | undefined, width: number): string[] {
  if (!c) return ['waiting for the first snapshot…'];
  const k = c.costs;
  const total = k.bytesCopied + k.bytesNoUserCopy;
  const out: string[] = [];
  const rows: Array<[string, number]> = [
    ['copied', k.bytesCopied],
    ['zero-copy', k.bytesNoUserCopy],
  ];
  const sizes = rows.map(([, n]) => fmtBytes(n));
  const sizeW = Math.max(...sizes.map((s) => s.length));
  const barW = Math.max(4, width - 10 - sizeW - 7);
  rows.forEach(([label, n], i) => {
    const share = total ? n / total : 0;
    out.push(`${label.padEnd(9)} ${bar(share, barW, '█', '░')} ${String(Math.round(share * 100)).padStart(3)}% ${sizes[i].padStart(sizeW)}`);
  });
  if (k.perRequest) {
    const r = k.perRequest;
    out.push(`per request (${fig(k.requests)} ${k.requestBasis}):`);
    out.push(`  ${fig(r.cpuCopies)} CPU copies, ${fig(r.modeSwitches)} mode switches, ${fig(r.syscalls)} syscalls`);
  } else {
    out.push('per request: no requests seen yet');
  }
  if (k.copiesPerByte !== null) out.push(`${fig(k.copiesPerByte)} CPU copies of each byte sent`);
  return out;
}
