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
 * Describes descriptors, remembering the last answer for each (pid, fd): a
 * descriptor closed before the next look keeps what it was last seen as.
 */
export class FdDescriber {
  private readonly known = new Map<string, FdDescription & { link: string }>();

  describe(fds: ReadonlyArray<{ pid: number; fd: number }>): Map<string, FdDescription> {
    const out = new Map<string, FdDescription>();
    const sockets = new Map<number, Map<string, SocketInfo>>();
    for (const { pid, fd } of fds) {
      const key = `${pid}:${fd}`;
      let link: string | undefined;
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        link = undefined;
      }
      const prev = this.known.get(key);
      if (link === undefined) {
        out.set(key, prev ?? { type: 'unknown', desc: '' });
        continue;
      }
      if (prev && prev.link === link && prev.type !== 'socket') {
        out.set(key, prev);
        continue;
      }
      let d: FdDescription;
      const sock = /^socket:\[(\d+)\]$/.exec(link);
      if (sock) {
        let table = sockets.get(pid);
        if (!table) {
          table = socketTable(pid);
          sockets.set(pid, table);
        }
        d = table.get(sock[1]) ?? { type: 'socket', desc: link };
      } else {
        d = classifyLink(link);
      }
      this.known.set(key, { ...d, link });
      out.set(key, d);
    }
    return out;
  }
}
