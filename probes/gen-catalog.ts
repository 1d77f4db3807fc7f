// SPDX-License-Identifier: MIT
// Generates the C and TypeScript syscall tables from the hand-edited catalog,
// probes/syscalls.tbl, so that native code, probes and the agent share one copy.
//
// Usage: tsx probes/gen-catalog.ts [TBL [OUTDIR]]
//   TBL     defaults to probes/syscalls.tbl
//   OUTDIR  writes OUTDIR/syscalls.h and OUTDIR/syscalls.ts instead of
//           probes/.output/syscalls.h and agent/gen/syscalls.ts
// Exits 1 and prints `file:line: reason` for every malformed row.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

// Order is the C enum's: '-' is IOT_CLASS_NONE = 0.
const CLASSES = [
  '-',
  'data.read',
  'data.write',
  'data.sendfile',
  'data.splice',
  'data.copy_file_range',
  'data.mmap',
  'wait.select',
  'wait.poll',
  'wait.epoll',
  'wait.signal',
  'mux.setup',
  'aio.uring',
  'aio.linux',
  'net.accept',
  'net.setup',
  'fd.open',
  'fd.close',
  'fd.ctl',
  'proc',
  'sync',
  'sleep',
] as const;
const RETS = ['-', 'bytes', 'count', 'msgs', 'fd'] as const;

type Class = (typeof CLASSES)[number];
type Ret = (typeof RETS)[number];

// Not stopped on in run mode: futex and sleeps are frequent and carry no I/O.
const NO_SECCOMP: readonly Class[] = ['-', 'sync', 'sleep'];
// Classes whose bytes have a source and a target descriptor.
const FD_PAIR_CLASSES: readonly Class[] = ['data.sendfile', 'data.splice', 'data.copy_file_range'];

// x86_64 passes six syscall arguments in registers (rdi rsi rdx r10 r8 r9).
const MAX_ARGS = 6;
// Keeps a typo from sizing the C array in megabytes; x86_64 ends at 450 today.
const MAX_NR = 1023;
const IDENT = /^[a-z_][a-z0-9_]*$/;

interface Row {
  readonly line: number;
  readonly nr: number;
  readonly name: string;
  readonly cls: Class;
  readonly ret: Ret;
  readonly args: readonly string[];
}

interface Desc extends Row {
  readonly fdArg: number;
  readonly inFdArg: number;
  readonly outFdArg: number;
  readonly nfdsArg: number;
  readonly seccomp: boolean;
}

class TblError extends Error {}

function isClass(s: string): s is Class {
  return (CLASSES as readonly string[]).includes(s);
}

function isRet(s: string): s is Ret {
  return (RETS as readonly string[]).includes(s);
}

/** Parses the catalog; throws a TblError listing every bad row as `file:line: reason`. */
function parseTbl(text: string, file: string): Row[] {
  const rows: Row[] = [];
  const errors: string[] = [];
  const lineOfNr = new Map<number, number>();
  const lineOfName = new Map<string, number>();
  let prevNr = -1;

  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) return;
    const fail = (reason: string): void => {
      errors.push(`${file}:${line}: ${reason}`);
    };
    if (fields.length < 5) {
      fail(`expected 'nr name class ret args...', got ${fields.length} field(s): ${raw.trim()}`);
      return;
    }
    const [nrText, name, cls, ret, ...args] = fields as [string, string, string, string, ...string[]];

    if (!/^\d+$/.test(nrText) || Number(nrText) > MAX_NR) {
      fail(`nr '${nrText}' is not an integer in 0..${MAX_NR}`);
      return;
    }
    const nr = Number(nrText);
    if (!IDENT.test(name)) {
      fail(`name '${name}' is not a C identifier in lower case`);
      return;
    }
    if (!isClass(cls)) {
      fail(`unknown class '${cls}' for ${name}; one of: ${CLASSES.join(' ')}`);
      return;
    }
    if (!isRet(ret)) {
      fail(`unknown ret '${ret}' for ${name}; one of: ${RETS.join(' ')}`);
      return;
    }
    const roles = args.length === 1 && args[0] === '-' ? [] : args;
    if (roles.length > MAX_ARGS) {
      fail(`${name} has ${roles.length} args; a syscall takes at most ${MAX_ARGS}`);
      return;
    }
    const badRole = roles.find((r) => !IDENT.test(r));
    if (badRole !== undefined) {
      fail(`arg '${badRole}' of ${name} is not a snake_case name (use a lone '-' for no args)`);
      return;
    }
    const twice = roles.find((r, j) => roles.indexOf(r) !== j);
    if (twice !== undefined) {
      fail(`arg '${twice}' appears twice in ${name}`);
      return;
    }

    const nrLine = lineOfNr.get(nr);
    if (nrLine !== undefined) {
      fail(`duplicate nr ${nr} (${name}), first on line ${nrLine}`);
      return;
    }
    const nameLine = lineOfName.get(name);
    if (nameLine !== undefined) {
      fail(`duplicate name '${name}', first on line ${nameLine}`);
      return;
    }
    if (nr < prevNr) {
      fail(`nr ${nr} (${name}) comes after ${prevNr}; keep rows in ascending order`);
      return;
    }
    lineOfNr.set(nr, line);
    lineOfName.set(name, line);
    prevNr = nr;
    rows.push({ line, nr, name, cls, ret, args: roles });
  });

  if (errors.length > 0) throw new TblError(errors.join('\n'));
  if (rows.length === 0) throw new TblError(`${file}: no rows`);
  return rows;
}

/** Index of the first of `roles` (in that order of preference) among args, -1 if none. */
function argIndex(args: readonly string[], ...roles: string[]): number {
  for (const role of roles) {
    const i = args.indexOf(role);
    if (i >= 0) return i;
  }
  return -1;
}

function describe(row: Row): Desc {
  const { cls, args } = row;
  let fdArg = argIndex(args, 'fd');
  if (fdArg < 0) fdArg = argIndex(args, 'fd_in', 'in_fd');
  if (fdArg < 0) fdArg = argIndex(args, 'epfd');

  let inFdArg = -1;
  let outFdArg = -1;
  if (cls === 'data.read') inFdArg = argIndex(args, 'fd');
  if (cls === 'data.write') outFdArg = argIndex(args, 'fd');
  // vmsplice has a lone pipe fd: which way the bytes go depends on the end.
  if (FD_PAIR_CLASSES.includes(cls)) {
    inFdArg = argIndex(args, 'fd_in', 'in_fd');
    outFdArg = argIndex(args, 'fd_out', 'out_fd');
  }

  return {
    ...row,
    fdArg,
    inFdArg,
    outFdArg,
    nfdsArg: argIndex(args, 'nfds', 'maxevents'),
    seccomp: !NO_SECCOMP.includes(cls),
  };
}

function cClass(cls: Class): string {
  return cls === '-' ? 'IOT_CLASS_NONE' : `IOT_CLASS_${cls.replace(/\./g, '_').toUpperCase()}`;
}

function cRet(ret: Ret): string {
  return ret === '-' ? 'IOT_RET_NONE' : `IOT_RET_${ret.toUpperCase()}`;
}

function renderC(descs: readonly Desc[], nrMax: number): string {
  const byNr = new Map(descs.map((d) => [d.nr, d]));
  const entries: string[] = [];
  for (let nr = 0; nr < nrMax; nr++) {
    const d = byNr.get(nr);
    const fields = d
      ? [`IOT_NAME("${d.name}")`, cClass(d.cls), cRet(d.ret), d.fdArg, d.inFdArg, d.outFdArg, d.nfdsArg, d.seccomp ? 1 : 0]
      : ['IOT_NAME(0)', 'IOT_CLASS_NONE', 'IOT_RET_NONE', -1, -1, -1, -1, 0];
    entries.push(`\t/* ${nr} */ { ${fields[0]} ${fields.slice(1).join(', ')} },`);
  }
  const numbers = descs.map((d) => `#define IOT_NR_${d.name} ${d.nr}`);

  return `/* Generated from probes/syscalls.tbl by probes/gen-catalog.ts. Do not edit. */
#ifndef IOT_SYSCALLS_H
#define IOT_SYSCALLS_H

/* One more than the highest syscall number in the catalog. A number at or
 * above it has no entry (a syscall newer than <asm/unistd_64.h> the catalog
 * was checked against, or an x32 call with __X32_SYSCALL_BIT set): check
 * before indexing iot_syscalls. */
#define IOT_NR_MAX ${nrMax}

/* The size of iot_syscalls: IOT_NR_MAX rounded up to a power of two, so that
 * the eBPF verifier can see an index masked with IOT_NR_TABLE - 1 is in
 * bounds. The entries past IOT_NR_MAX are zeroes, never looked at. */
#define IOT_NR_TABLE ${1 << Math.ceil(Math.log2(nrMax))}

/* Syscall numbers by name, for code that cannot include <sys/syscall.h>
 * (the eBPF probes) and for code shared with it. */
${numbers.join('\n')}

/* The class column of probes/syscalls.tbl. */
enum iot_class {
${CLASSES.map((c, i) => `\t${cClass(c)}${i === 0 ? ' = 0' : ''},`).join('\n')}
\tIOT_CLASS__COUNT
};

/* What a non-negative return counts: the ret column. */
enum iot_ret {
${RETS.map((r, i) => `\t${cRet(r)}${i === 0 ? ' = 0' : ''},`).join('\n')}
};

/* eBPF programs cannot hold pointers in their read-only data: there the
 * table has no names. */
#ifdef __bpf__
#define IOT_NAME(s)
#else
#define IOT_NAME(s) s,
#endif

struct iot_syscall_desc {
#ifndef __bpf__
\tconst char *name;       /* NULL for numbers with no syscall */
#endif
\tunsigned char cls;      /* enum iot_class */
\tunsigned char ret;      /* enum iot_ret */
\tsigned char fd_arg;     /* arg index of the fd the call is about (fd, else fd_in/in_fd, else epfd), -1 if none */
\tsigned char in_fd_arg;  /* arg whose fd receives bytes_in: the fd of data.read, fd_in/in_fd of sendfile/splice/copy_file_range; -1 */
\tsigned char out_fd_arg; /* the fd of data.write, fd_out/out_fd of sendfile/splice/copy_file_range; -1 */
\tsigned char nfds_arg;   /* arg index of nfds or maxevents, -1 */
\tunsigned char seccomp;  /* 1: stop on it in run mode's seccomp filter (every class except -, sync, sleep) */
};

/* Indexed by syscall number, every number listed in order (positional rather
 * than [nr] = designators, which C++ only takes as an extension). Unused in
 * most files that include it, hence the attribute. */
static const struct iot_syscall_desc iot_syscalls[IOT_NR_TABLE] __attribute__((unused)) = {
${entries.join('\n')}
};

#endif /* IOT_SYSCALLS_H */
`;
}

function renderTs(descs: readonly Desc[], nrMax: number): string {
  const q = (s: string): string => `'${s}'`;
  const rows = descs.map(
    (d) =>
      `  { nr: ${d.nr}, name: ${q(d.name)}, cls: ${q(d.cls)}, ret: ${q(d.ret)}, ` +
      `args: [${d.args.map(q).join(', ')}], fdArg: ${d.fdArg}, seccomp: ${d.seccomp} },`,
  );

  return `// Generated from probes/syscalls.tbl by probes/gen-catalog.ts. Do not edit.

/** What a syscall means to the classifier (the class column of probes/syscalls.tbl); '-' for nothing. */
export type SyscallClass =
${CLASSES.map((c) => `  | ${q(c)}`).join('\n')};

/** What a non-negative return counts: bytes moved, ready fds or events, messages, a new fd; '-' for nothing. */
export type SyscallRet = ${RETS.map(q).join(' | ')};

/** One row of the syscall catalog. */
export interface SyscallDesc {
  /** x86_64 syscall number. */
  readonly nr: number;
  /** Name as in __NR_<name>. */
  readonly name: string;
  readonly cls: SyscallClass;
  readonly ret: SyscallRet;
  /** Argument names in order, as in the kernel's SYSCALL_DEFINE; empty when unknown or none. */
  readonly args: readonly string[];
  /** Index in args of the fd the call is about (fd, else fd_in/in_fd, else epfd), -1 if none; the C table's fd_arg. */
  readonly fdArg: number;
  /** Whether run mode's seccomp filter stops the tracee on this syscall. */
  readonly seccomp: boolean;
}

/** Every class; the index of each is its value in the C enum iot_class. */
export const SYSCALL_CLASSES: readonly SyscallClass[] = [${CLASSES.map(q).join(', ')}];

/** One more than the highest syscall number in the catalog; higher numbers have no entry. */
export const NR_MAX: number = ${nrMax};

const ROWS: readonly SyscallDesc[] = [
${rows.join('\n')}
];

/** The catalog indexed by syscall number; undefined where a number has no syscall. */
export const SYSCALLS: readonly (SyscallDesc | undefined)[] = (() => {
  const table = new Array<SyscallDesc | undefined>(NR_MAX).fill(undefined);
  for (const desc of ROWS) table[desc.nr] = desc;
  return table;
})();

/** The catalog by syscall name. */
export const SYSCALL_BY_NAME: ReadonlyMap<string, SyscallDesc> = new Map(ROWS.map((desc) => [desc.name, desc]));
`;
}

function main(argv: readonly string[]): number {
  if (argv.length > 2 || argv.some((a) => a.startsWith('-'))) {
    process.stderr.write('Usage: tsx probes/gen-catalog.ts [TBL [OUTDIR]]\n');
    return 2;
  }
  const root = path.resolve(__dirname, '..');
  const tblPath = argv[0] ?? path.join(root, 'probes', 'syscalls.tbl');
  const outDir = argv[1];
  const cPath = outDir ? path.join(outDir, 'syscalls.h') : path.join(root, 'probes', '.output', 'syscalls.h');
  const tsPath = outDir ? path.join(outDir, 'syscalls.ts') : path.join(root, 'agent', 'gen', 'syscalls.ts');
  const fromCwd = path.relative(process.cwd(), tblPath);
  const shown = argv[0] ?? (fromCwd.startsWith('..') ? tblPath : fromCwd);

  let text: string;
  try {
    text = readFileSync(tblPath, 'utf8');
  } catch (err) {
    process.stderr.write(`gen-catalog: cannot read ${shown}: ${(err as Error).message}\n`);
    return 1;
  }

  let descs: Desc[];
  try {
    descs = parseTbl(text, shown).map(describe);
  } catch (err) {
    if (!(err instanceof TblError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }

  const nrMax = descs[descs.length - 1]!.nr + 1;
  mkdirSync(path.dirname(cPath), { recursive: true });
  mkdirSync(path.dirname(tsPath), { recursive: true });
  writeFileSync(cPath, renderC(descs, nrMax));
  writeFileSync(tsPath, renderTs(descs, nrMax));
  return 0;
}

process.exitCode = main(process.argv.slice(2));
