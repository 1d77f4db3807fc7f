// SPDX-License-Identifier: MIT
// Data files a process has mapped, from /proc/<pid>/maps: the mmap data path
// leaves no syscall once the mapping exists, so an attach sees it only here.
import * as fs from 'node:fs';

import type { MappedFile } from './inspection';

/** Listed per process, the largest first. */
export const MAX_LISTED_MAPPED_FILES = 64;

/**
 * Shared, non-executable mappings of regular files, as the native agent
 * counts mmap calls: libraries (mapped private, with code), /dev, memfd,
 * SysV and AIO ring segments are no data path.
 */
export function readMappedFiles(pid: number): MappedFile[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return undefined;
  }
  const bytes = new Map<string, number>();
  for (const line of text.split('\n')) {
    // start-end perms offset dev inode path
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s+(\/.*)$/.exec(line);
    if (!m || m[4] === '0') continue;
    const [, start, end, perms, , file] = m;
    if (perms[2] === 'x' || perms[3] !== 's') continue;
    // Kernel objects that maps names like files: Linux AIO's ring ("/[aio] (deleted)"), SysV shm.
    if (file.startsWith('/dev/') || file.startsWith('/memfd:') || file.startsWith('/SYSV') || file.startsWith('/[aio]')) continue;
    const size = Number(BigInt(`0x${end}`) - BigInt(`0x${start}`));
    bytes.set(file, (bytes.get(file) ?? 0) + size);
  }
  return [...bytes.entries()]
    .map(([path, n]) => ({ path, bytes: n, shared: true }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, MAX_LISTED_MAPPED_FILES);
}
