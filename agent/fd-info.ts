// SPDX-License-Identifier: MIT
// Names what a descriptor number stands for (TCP peer, file path, pipe, epoll…)
// from /proc, once per snapshot, never per syscall.
import * as fs from 'node:fs';

import type { FdType } from './snapshot';

export interface FdDescription {
  type: FdType;
  desc: string;
}

interface SocketInfo {
  type: FdType;
  desc: string;
}

/** "0100007F:1F90" (little-endian words, /proc/net/tcp) → "127.0.0.1:8080". */
function decodeAddress(hex: string): string {
  const [addr, port] = hex.split(':');
  const p = parseInt(port, 16);
  if (addr.length === 8) {
    const n = parseInt(addr, 16);
    return `${n & 255}.${(n >>> 8) & 255}.${(n >>> 16) & 255}.${n >>> 24}:${p}`;
  }
  // IPv6: four 32-bit words, each in host (little-endian) order.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = addr.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  const v4mapped = groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff';
  if (v4mapped) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}:${p}`;
  return `[${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]:${p}`;
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(1);
  } catch {
    return [];
  }
}

/** Socket inode → description, from /proc/<pid>/net (the process's namespace). */
function socketTable(pid: number): Map<string, SocketInfo> {
  const table = new Map<string, SocketInfo>();
  for (const [file, type] of [['tcp', 'tcp'], ['tcp6', 'tcp6'], ['udp', 'udp'], ['udp6', 'udp6']] as const) {
    for (const line of readLines(`/proc/${pid}/net/${file}`)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = decodeAddress(f[1]);
      const peer = decodeAddress(f[2]);
      const listening = type.startsWith('tcp') && f[3] === '0A';
      const desc = listening ? `${local} (listening)` : peer.endsWith(':0') && type.startsWith('udp') ? local : `${local} -> ${peer}`;
      table.set(f[9], { type, desc });
    }
  }
  for (const line of readLines(`/proc/${pid}/net/unix`)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    table.set(f[6], { type: 'unix', desc: f[7] ?? '' });
  }
  return table;
}

function classifyLink(link: string): FdDescription {
  if (link.startsWith('pipe:')) return { type: 'pipe', desc: link };
  const anon = /^anon_inode:\[?([a-z_]+)\]?/.exec(link);
  if (anon) {
    const kind = anon[1];
    const known: Record<string, FdType> = { eventpoll: 'epoll', eventfd: 'eventfd', signalfd: 'signalfd', timerfd: 'timerfd', io_uring: 'io_uring' };
    return { type: known[kind] ?? 'anon', desc: link };
  }
  if (link.startsWith('/dev/')) return { type: 'dev', desc: link };
  if (link.startsWith('/')) return { type: 'file', desc: link };
  return { type: 'unknown', desc: link };
}

/**
 * Describes descriptors from the link the backend read while each was open
 * ('socket:[123]', 'pipe:[9]', a path). Socket inodes are looked up in the
 * process's /proc/<pid>/net tables, read at most once per call and only when
 * an inode is not known yet; an answer is kept for the inode's lifetime in
 * this session, so a connection closed since still shows its peer.
 */
export class FdDescriber {
  private readonly sockets = new Map<string, SocketInfo>();

  describe(fds: ReadonlyArray<{ pid: number; fd: number; link: string }>): Map<string, FdDescription> {
    const out = new Map<string, FdDescription>();
    const tablesRead = new Set<number>();
    for (const { pid, fd, link } of fds) {
      const key = `${pid}:${fd}`;
      if (!link) {
        out.set(key, { type: 'unknown', desc: '' });
        continue;
      }
      const sock = /^socket:\[(\d+)\]$/.exec(link);
      if (!sock) {
        out.set(key, classifyLink(link));
        continue;
      }
      let info = this.sockets.get(sock[1]);
      if (!info && !tablesRead.has(pid)) {
        tablesRead.add(pid);
        for (const [ino, i] of socketTable(pid)) this.sockets.set(ino, i);
        info = this.sockets.get(sock[1]);
      }
      out.set(key, info ?? { type: 'socket', desc: link });
    }
    // Bounded: a long session through many short connections sees many inodes.
    if (this.sockets.size > 100000) this.sockets.clear();
    return out;
  }
}
