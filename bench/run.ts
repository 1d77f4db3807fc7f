// SPDX-License-Identifier: MIT
// `npm run bench`: iotrace's overhead side by side with strace, perf trace and
// bpftrace, in one run. Every workload is measured untraced and under each
// tracer, the conditions interleaved (A B C … A B C …) for --rounds rounds so
// that the machine's drift hits all of them; per condition the median, the
// ratio to untraced, the min–max and the tracer's own CPU and peak RSS.
// Writes bench/results/<date>.json and .md and prints the tables.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { stopAllServers } from '../test/real-servers';
import { has, killRunning, ROOT } from './proc';
import { ATTACH_TRACERS, type AttachTracer, type Usage } from './tracers';
import { dd, ddUnderRun, labEpoll, nginx, redis, RUN_TRACERS, type Measurement, type RunTracer, type Workload } from './workloads';

interface ConditionResult {
  name: string;
  label: string;
  values: number[];
  median: number;
  ratio: number;
  min: number;
  max: number;
  /** The tracer's CPU seconds (median of the rounds) and peak RSS (largest). */
  cpuSec: number | null;
  /** Run mode: the tracer's figures include the command it ran (dd). */
  includesCommand: boolean;
  maxRssKiB: number | null;
}

interface WorkloadResult {
  name: string;
  title: string;
  unit: string;
  conditions: ConditionResult[];
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

/** Debian packages of the peers, installed when missing and we are root. */
function installPeers(): void {
  const want: Record<string, string> = { bpftrace: 'bpftrace', perf: 'linux-perf', strace: 'strace' };
  const missing = Object.entries(want).filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
  if (!missing.length) return;
  if (process.geteuid?.() !== 0) {
    process.stderr.write(`bench: not root, not installing ${missing.join(' ')}: those tracers are skipped\n`);
    return;
  }
  process.stderr.write(`bench: installing ${missing.join(' ')}\n`);
  spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** bpftrace and perf's tracepoints need tracefs, which a fresh machine may not have mounted. */
function mountTracefs(): void {
  if (fs.existsSync('/sys/kernel/tracing/events')) return;
  spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
}

type Condition =
  | { kind: 'untraced'; name: string; label: string }
  | { kind: 'attach'; name: string; label: string; tracer: AttachTracer }
  | { kind: 'run'; name: string; label: string; tracer: RunTracer };

function conditionsFor(w: Workload, skipped: string[]): Condition[] {
  const out: Condition[] = [{ kind: 'untraced', name: 'untraced', label: 'untraced' }];
  for (const t of ATTACH_TRACERS) {
    const why = t.missing();
    if (why) skipped.push(`${t.label}: ${why}`);
    else out.push({ kind: 'attach', name: t.name, label: t.label, tracer: t });
  }
  if (w.name === 'dd') for (const t of RUN_TRACERS) out.push({ kind: 'run', name: t.name, label: t.label, tracer: t });
  return out;
}

async function measure(w: Workload, c: Condition): Promise<Measurement> {
  if (c.kind === 'run') return ddUnderRun(c.tracer);
  return w.measure(c.kind === 'attach' ? c.tracer : null);
}

function summarize(c: Condition, values: number[], usages: Usage[], base: number): ConditionResult {
  const m = median(values);
  return {
    name: c.name,
    label: c.label,
    values,
    median: m,
    ratio: base ? m / base : 0,
    min: Math.min(...values),
    max: Math.max(...values),
    cpuSec: usages.length ? median(usages.map((u) => u.cpuSec)) : null,
    maxRssKiB: usages.length ? Math.max(...usages.map((u) => u.maxRssKiB)) : null,
    includesCommand: c.kind === 'run',
  };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function markdown(results: WorkloadResult[], rounds: number, skipped: string[]): string {
  const lines = [`${rounds} interleaved rounds on ${os.cpus().length} CPUs, Linux ${os.release()}; ratio = median / untraced median.`, ''];
  for (const w of results) {
    lines.push(`**${w.title}**`, '', `| condition | median ${w.unit} | ratio to untraced | min–max | tracer CPU s / peak RSS |`, '|---|---:|---:|---:|---:|');
    for (const c of w.conditions) {
      const res = c.cpuSec !== null && c.maxRssKiB !== null ? `${c.cpuSec.toFixed(2)} s / ${Math.round(c.maxRssKiB / 1024)} MiB${c.includesCommand ? ' (with dd)' : ''}` : '';
      const ratio = c.ratio < 0.1 ? c.ratio.toFixed(4) : c.ratio.toFixed(3);
      lines.push(`| ${c.label} | ${fmt(c.median)} | ${ratio} | ${fmt(c.min)}–${fmt(c.max)} | ${res} |`);
    }
    lines.push('');
  }
  if (skipped.length) lines.push(`Skipped: ${[...new Set(skipped)].join('; ')}.`, '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--rounds');
  const rounds = i > 0 ? Number(process.argv[i + 1]) : 3;
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]?.split(',') : undefined;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds takes a whole number ≥ 1');
  installPeers();
  mountTracefs();
  const workloads = [labEpoll(), nginx(), redis(), dd()].filter((w) => !only || only.includes(w.name));
  const skipped: string[] = [];
  const results: WorkloadResult[] = [];
  for (const w of workloads) {
    const conds = conditionsFor(w, skipped);
    const values = new Map<string, number[]>(conds.map((c) => [c.name, []]));
    const usages = new Map<string, Usage[]>(conds.map((c) => [c.name, []]));
    await w.start();
    try {
      for (let r = 1; r <= rounds; r++) {
        for (const c of conds) {
          const m = await measure(w, c);
          values.get(c.name)!.push(m.value);
          if (m.usage) usages.get(c.name)!.push(m.usage);
          process.stderr.write(`bench: ${w.name} round ${r}/${rounds} ${c.label}: ${fmt(m.value)} ${w.unit}\n`);
        }
      }
    } finally {
      await w.stop();
    }
    const base = median(values.get('untraced')!);
    results.push({ name: w.name, title: w.title, unit: w.unit, conditions: conds.map((c) => summarize(c, values.get(c.name)!, usages.get(c.name)!, base)) });
  }
  const date = new Date().toISOString().slice(0, 10);
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const md = markdown(results, rounds, skipped);
  const doc = {
    date: new Date().toISOString(),
    command: `npm run bench -- --rounds ${rounds}`,
    host: { kernel: os.release(), cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '' },
    rounds,
    skipped: [...new Set(skipped)],
    workloads: results,
  };
  fs.writeFileSync(path.join(dir, `${date}.json`), JSON.stringify(doc, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, `${date}.md`), md);
  process.stdout.write(md);
  process.stderr.write(`bench: wrote bench/results/${date}.json and .md\n`);
}

async function end(code: number): Promise<never> {
  killRunning();
  await stopAllServers();
  process.exit(code);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`bench: ${sig}, stopping\n`);
    void end(130);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  void end(1);
});
