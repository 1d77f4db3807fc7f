// SPDX-License-Identifier: MIT
// Where iotrace's memory is, for chasing RSS growth (docs/limits.md, "Memory
// V8 and the allocator keep"): preload it into the node that runs iotrace,
//   MEMLOG=/tmp/mem.jsonl node -r ./bench/mem-sample.cjs dist/agent/cli.js attach PID
// and every 5 s it appends one JSON line: process.memoryUsage() and CPU time,
// V8's spaces (used/physical KiB) and the RSS of /proc/self/smaps by kind:
// [heap] is glibc's main arena, "arena" the 64 MiB-aligned mappings of the
// other threads' arenas, "anon" mostly V8's pages. MEMLOG_GC=1 with
// --expose-gc collects first, so heapUsed is the live heap. Not loaded by
// iotrace itself; glibc's own view: gdb -p PID -batch -ex 'call (void)malloc_stats()'.
'use strict';
const fs = require('node:fs');
const v8 = require('node:v8');

const out = process.env.MEMLOG;
const t0 = Date.now();
const forceGc = process.env.MEMLOG_GC === '1' && typeof global.gc === 'function';
const ARENA_ALIGN = 64 * 1024 * 1024;

function smapsByKind() {
  const kib = {};
  let kind = '';
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[2];
      kind = name.startsWith('/') ? (name.endsWith('.node') ? 'addon' : 'file') : name || (parseInt(head[1], 16) % ARENA_ALIGN === 0 ? 'arena' : 'anon');
      continue;
    }
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss) kib[kind] = (kib[kind] ?? 0) + Number(rss[1]);
  }
  return kib;
}

if (out) {
  setInterval(() => {
    if (forceGc) global.gc();
    const m = process.memoryUsage();
    const cpu = process.cpuUsage();
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = `${s.space_used_size >> 10}/${s.physical_space_size >> 10}`;
    const line = {
      t: Math.round((Date.now() - t0) / 1000),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      rss: m.rss >> 10,
      heapTotal: m.heapTotal >> 10,
      heapUsed: m.heapUsed >> 10,
      external: m.external >> 10,
      arrayBuffers: m.arrayBuffers >> 10,
      smaps: smapsByKind(),
      spaces,
    };
    fs.appendFileSync(out, JSON.stringify(line) + '\n');
  }, 5000).unref();
}
