// SPDX-License-Identifier: MIT
// The BPF programs, maps and links a process holds, from /proc/<pid>/fdinfo (bpftool here
// lists no pids), and whether the kernel still has them loaded: how tests show that
// iotrace leaves nothing behind however it ends.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

import { sleep } from './harness';

export interface BpfObjects {
  progs: Set<number>;
  maps: Set<number>;
  links: Set<number>;
}

/**
 * The ids of the BPF programs, maps and links a process holds an fd of. A program fd's
 * fdinfo has prog_id, a map fd's map_id, a link fd's link_id (and the prog_id of the
 * program it attaches, which the program's own fd lists too).
 */
export function bpfObjectsOf(pid: number): BpfObjects {
  const objs: BpfObjects = { progs: new Set(), maps: new Set(), links: new Set() };
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const id = (key: string): number | undefined => {
      const m = new RegExp(`^${key}:\\s*(\\d+)$`, 'm').exec(info);
      return m ? Number(m[1]) : undefined;
    };
    const link = id('link_id');
    if (link !== undefined) {
      objs.links.add(link);
    } else if (id('prog_id') !== undefined) {
      objs.progs.add(id('prog_id') as number);
    } else if (id('map_id') !== undefined) {
      objs.maps.add(id('map_id') as number);
    }
  }
  return objs;
}

/** `bpftool -j <kind> show`: what the kernel has loaded now, by id. */
export function bpftoolList(kind: 'prog' | 'map' | 'link'): Map<number, { name?: string; type?: string }> {
  const out = execFileSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 20_000 });
  const list = JSON.parse(out || '[]') as Array<{ id: number; name?: string; type?: string }>;
  return new Map(list.map((x) => [x.id, x]));
}

/** Polls until none of the ids is loaded any more (the kernel frees them after an RCU grace period). */
export async function waitUntilUnloaded(objs: BpfObjects, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left: string[] = [];
    for (const kind of ['prog', 'map', 'link'] as const) {
      const loaded = bpftoolList(kind);
      const ids = kind === 'prog' ? objs.progs : kind === 'map' ? objs.maps : objs.links;
      for (const id of ids) if (loaded.has(id)) left.push(`${kind} ${id} (${loaded.get(id)?.name ?? loaded.get(id)?.type ?? ''})`);
    }
    if (left.length === 0) return;
    if (Date.now() > deadline) assert.fail(`still loaded ${timeoutMs} ms after iotrace ended: ${left.join(', ')}`);
    await sleep(100);
  }
}

/**
 * The BPF objects an eBPF iotrace holds, checked to be its probes (its iot_ programs, each
 * attached by a link, and its maps, all loaded): an empty set would prove nothing.
 */
export function heldBpfObjects(pid: number): BpfObjects {
  const objs = bpfObjectsOf(pid);
  const progs = bpftoolList('prog');
  const ours = [...objs.progs].map((id) => progs.get(id)?.name ?? `?${id}`);
  assert.ok(ours.filter((n) => n.startsWith('iot_')).length >= 8, `iotrace holds fewer than 8 iot_ programs: ${ours.join(', ')}`);
  assert.ok(objs.maps.size >= 1, 'iotrace holds no BPF map');
  assert.ok(objs.links.size >= 8, `iotrace holds ${objs.links.size} BPF links, fewer than its 8 programs`);
  for (const kind of ['map', 'link'] as const) {
    const loaded = bpftoolList(kind);
    for (const id of kind === 'map' ? objs.maps : objs.links) assert.ok(loaded.has(id), `bpftool ${kind} show lacks ${kind} ${id} of iotrace`);
  }
  return objs;
}

/** The largest id of a BPF program loaded now (0: none): programs loaded later get larger ids. */
export function lastProgramId(): number {
  return Math.max(0, ...bpftoolList('prog').keys());
}

/**
 * Resolves once every iotrace program (iot_*) loaded after sinceId is held by a live
 * process: none outlives the iotrace that loaded it. Other iotraces may run meanwhile;
 * theirs are held by them.
 */
export async function waitNoOrphanPrograms(sinceId: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ours = [...bpftoolList('prog')].filter(([id, p]) => id > sinceId && p.name?.startsWith('iot_'));
    const held = new Set<number>();
    if (ours.length) {
      for (const entry of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          for (const id of bpfObjectsOf(Number(entry)).progs) held.add(id);
        } catch {
          // the process ended meanwhile
        }
      }
    }
    const orphans = ours.filter(([id]) => !held.has(id));
    if (orphans.length === 0) return;
    if (Date.now() > deadline) assert.fail(`iotrace programs loaded with no process holding them ${timeoutMs} ms on: ${orphans.map(([id, p]) => `${id} ${p.name}`).join(', ')}`);
    await sleep(100);
  }
}
