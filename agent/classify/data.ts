// SPDX-License-Identifier: MIT
// Data paths: how the bytes move, by share of bytes moved.
import { classFigure, fig, pct, size, type Facts, type UringOpFacts } from './facts';
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
  /** Read-family and write-family syscall bytes. */
  readBytes: number;
  writeBytes: number;
  /** io_uring requests that moved bytes, by the path they count in (eBPF backend). */
  uring: UringBytes;
}

/** Per data path, the io_uring opcodes that moved its bytes, most bytes first. */
export type UringBytes = Partial<Record<DataLabel, UringOpFacts[]>>;

/**
 * The data path of an io_uring opcode's bytes: read/write-kind ops copy
 * through a user buffer like their syscalls; SEND_ZC/SENDMSG_ZC send from
 * pinned user pages, as MSG_ZEROCOPY does (io_uring_enter(2)); splice and tee
 * move pipe pages. RECV_ZC posts no byte count the probes keep.
 */
export function uringDataLabel(op: UringOpFacts): DataLabel | null {
  if (op.kind === 'read' || op.kind === 'write') return 'copy';
  if (op.name === 'send_zc' || op.name === 'sendmsg_zc') return 'msg_zerocopy';
  if (op.name === 'splice' || op.name === 'tee') return 'splice';
  return null;
}

function uringBytes(f: Facts): UringBytes {
  const out: UringBytes = {};
  for (const op of f.uring?.ops ?? []) {
    const label = uringDataLabel(op);
    if (label && op.bytes > 0) (out[label] ??= []).push(op);
  }
  return out;
}

const opBytes = (ops: UringOpFacts[] | undefined, kind?: UringOpFacts['kind']): number =>
  (ops ?? []).filter((o) => !kind || o.kind === kind).reduce((n, o) => n + o.bytes, 0);

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
  const uring = uringBytes(f);
  const uringRead = opBytes(uring.copy, 'read');
  const uringWrite = opBytes(uring.copy, 'write');
  // write() out of a mapping copies once, read()+write() twice: bytes written
  // beyond those read, from a process with a file mapped, went the mmap way.
  // A ring's send from the mapping is the same write.
  const mmap = mappedData(f).count > 0 ? Math.max(0, writeBytes - zc + uringWrite - readBytes - uringRead) : 0;
  return {
    copy: readBytes + writeBytes - zc + uringRead + uringWrite - mmap,
    sendfile: classFigure(f, 'data.sendfile').bytes,
    splice: classFigure(f, 'data.splice').bytes + opBytes(uring.splice),
    mmap,
    copy_file_range: classFigure(f, 'data.copy_file_range').bytes,
    msg_zerocopy: zc + opBytes(uring.msg_zerocopy),
    readBytes,
    writeBytes,
    uring,
  };
}

/** "io_uring recv 1.2 MiB, send 1.2 MiB (from the io_uring tracepoints)". */
function uringEvidence(ops: UringOpFacts[], what: string): string {
  const list = ops.map((o) => `${o.name} ${size(o.bytes)} in ${fig(o.completions - o.errors)} completions`).join(', ');
  return `io_uring ${list} (from the io_uring tracepoints): ${what}`;
}

/** The syscalls' part of a path's bytes, and the rings' part, each in its own sentence. */
function dataEvidence(f: Facts, b: DataBytes, label: DataLabel): string[] {
  const out: string[] = [];
  const ring = b.uring[label] ?? [];
  const sys = b[label] - opBytes(ring);
  switch (label) {
    case 'copy': {
      // The mmap share is taken from the syscalls' writes first: the rings' bytes stay whole.
      const written = b.writeBytes - b.mmap - Math.min(f.io?.zerocopyBytes ?? 0, b.writeBytes);
      if (sys > 0) out.push(`${fig(sys / 1024)} KiB through read/write-family calls (read ${fig(b.readBytes / 1024)} KiB, written ${fig(Math.max(0, written) / 1024)} KiB): each byte copied between kernel and user space`);
      if (ring.length) out.push(uringEvidence(ring, 'each byte copied between kernel and user buffers, as by the syscalls of the same name'));
      break;
    }
    case 'mmap':
      out.push(`${fig(b.mmap / 1024)} KiB written beyond the bytes read, with ${mappedData(f).what}: sent straight from mapped memory (1 CPU copy)`);
      break;
    case 'msg_zerocopy':
      if (sys > 0) out.push(`${fig(sys / 1024)} KiB in ${fig(f.io?.zerocopySends ?? 0)} sends with MSG_ZEROCOPY`);
      if (ring.length) out.push(uringEvidence(ring, 'sent from pinned user pages, no CPU copy'));
      break;
    default:
      if (sys > 0) out.push(`${fig(sys / 1024)} KiB moved by ${label} in ${fig(classFigure(f, `data.${label}`).calls)} calls without a user-space copy`);
      if (ring.length) out.push(uringEvidence(ring, 'pages moved without a user-space copy'));
  }
  return out;
}

export function classifyData(f: Facts): DataEntry[] {
  const b = dataBytes(f);
  const labels: DataLabel[] = ['copy', 'sendfile', 'splice', 'mmap', 'copy_file_range', 'msg_zerocopy'];
  const total = labels.reduce((n, l) => n + b[l], 0);
  // With the rings' opcodes seen (eBPF), nothing is left to infer.
  if (total === 0) return f.uring ? [] : uringData(f);
  const out: DataEntry[] = [];
  for (const label of labels) {
    const bytes = b[label];
    if (bytes <= 0) continue;
    const share = bytes / total;
    const minor = share < MINOR_SHARE;
    const confidence: Confidence = minor ? 'low' : bytes >= 65536 && share >= 0.2 ? 'high' : 'medium';
    const evidence = dataEvidence(f, b, label);
    if (minor) evidence.push(`only ${pct(share)} of the bytes`);
    out.push({ label, share, bytes, minor, confidence, evidence });
  }
  return out.sort((a, b2) => b2.share - a.share);
}

/**
 * A ring's reads and sends are no syscalls, so ptrace sees none of their
 * bytes. When a ring consumed submissions and no byte moved any other way,
 * its data path is inferred as copy (recv/send/read/write through a ring copy
 * like their syscalls), with low confidence and saying so. Only without the
 * eBPF backend's io_uring tracepoints, which see the opcodes themselves.
 */
function uringData(f: Facts): DataEntry[] {
  const submitted = f.io?.uringSubmitted ?? 0;
  if (submitted === 0) return [];
  return [{
    label: 'copy', share: 1, bytes: 0, minor: false, confidence: 'low',
    evidence: [`${fig(submitted)} io_uring submissions and no bytes through syscalls: the ring moves the data out of ptrace's sight; recv/send/read/write through a ring copy like their syscalls (inferred, opcodes not seen)`],
  }];
}
