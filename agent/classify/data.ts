// SPDX-License-Identifier: MIT
// Data paths: how the bytes move, by share of bytes moved.
import { classFigure, fig, pct, type Facts } from './facts';
import type { Confidence, DataEntry, DataLabel } from './vocabulary';

/** Under this share a path is listed as minor: request lines and headers next to a sendfile body. */
export const MINOR_SHARE = 0.05;

export interface DataBytes {
  copy: number;
  sendfile: number;
  splice: number;
  mmap: number;
  copy_file_range: number;
  msg_zerocopy: number;
  readBytes: number;
  writeBytes: number;
}

/** Regular files mapped as data, traced (mmap of an fd) or seen in /proc/<pid>/maps. */
export function mappedData(f: Facts): { count: number; bytes: number; what: string } {
  const traced = f.io?.mmapFile ?? 0;
  const files = (f.inspection?.processes ?? []).flatMap((p) => p.mappedFiles ?? []);
  const bytes = (f.io?.mmapFileBytes ?? 0) + files.reduce((n, m) => n + m.bytes, 0);
  const what = [traced ? `${fig(traced)} file mmap calls` : '', ...files.slice(0, 2).map((m) => `${m.path} (${fig(m.bytes / 1024)} KiB mapped)`)]
    .filter(Boolean)
    .join(', ');
  return { count: traced + files.length, bytes, what };
}

export function dataBytes(f: Facts): DataBytes {
  const readBytes = classFigure(f, 'data.read').bytes;
  const writeBytes = classFigure(f, 'data.write').bytes;
  const zc = Math.min(f.io?.zerocopyBytes ?? 0, writeBytes);
  // write() out of a mapping copies once, read()+write() twice: bytes written
  // beyond those read, from a process with a file mapped, went the mmap way.
  const mmap = mappedData(f).count > 0 ? Math.max(0, writeBytes - zc - readBytes) : 0;
  return {
    copy: readBytes + writeBytes - zc - mmap,
    sendfile: classFigure(f, 'data.sendfile').bytes,
    splice: classFigure(f, 'data.splice').bytes,
    mmap,
    copy_file_range: classFigure(f, 'data.copy_file_range').bytes,
    msg_zerocopy: zc,
    readBytes,
    writeBytes,
  };
}

export function classifyData(f: Facts): DataEntry[] {
  const b = dataBytes(f);
  const labels: DataLabel[] = ['copy', 'sendfile', 'splice', 'mmap', 'copy_file_range', 'msg_zerocopy'];
  const total = labels.reduce((n, l) => n + b[l], 0);
  if (total === 0) return uringData(f);
  const out: DataEntry[] = [];
  for (const label of labels) {
    const bytes = b[label];
    if (bytes <= 0) continue;
    const share = bytes / total;
    const minor = share < MINOR_SHARE;
    const confidence: Confidence = minor ? 'low' : bytes >= 65536 && share >= 0.2 ? 'high' : 'medium';
    const evidence: string[] = [];
    const kib = `${fig(bytes / 1024)} KiB`;
    switch (label) {
      case 'copy':
        evidence.push(`${kib} through read/write-family calls (read ${fig(b.readBytes / 1024)} KiB, written ${fig((b.writeBytes - b.mmap - b.msg_zerocopy) / 1024)} KiB): each byte copied between kernel and user space`);
        break;
      case 'mmap':
        evidence.push(`${kib} written beyond the bytes read, with ${mappedData(f).what}: sent straight from mapped memory (1 CPU copy)`);
        break;
      case 'msg_zerocopy':
        evidence.push(`${kib} in ${fig(f.io?.zerocopySends ?? 0)} sends with MSG_ZEROCOPY`);
        break;
      default: {
        const calls = classFigure(f, `data.${label}`).calls;
        evidence.push(`${kib} moved by ${label} in ${fig(calls)} calls without a user-space copy`);
      }
    }
    if (minor) evidence.push(`only ${pct(share)} of the bytes`);
    out.push({ label, share, bytes, minor, confidence, evidence });
  }
  return out.sort((a, b2) => b2.share - a.share);
}

/**
 * A ring's reads and sends are no syscalls, so ptrace sees none of their
 * bytes. When a ring consumed submissions and no byte moved any other way,
 * its data path is inferred as copy (recv/send/read/write through a ring copy
 * like their syscalls), with low confidence and saying so; the eBPF backend's
 * io_uring tracepoints see the opcodes themselves.
 */
function uringData(f: Facts): DataEntry[] {
  const submitted = f.io?.uringSubmitted ?? 0;
  if (submitted === 0) return [];
  return [{
    label: 'copy', share: 1, bytes: 0, minor: false, confidence: 'low',
    evidence: [`${fig(submitted)} io_uring submissions and no bytes through syscalls: the ring moves the data out of ptrace's sight; recv/send/read/write through a ring copy like their syscalls (inferred, opcodes not seen)`],
  }];
}
