// SPDX-License-Identifier: MIT
// Checks the syscall catalog (probes/syscalls.tbl and the tables generated from
// it) against the kernel's <asm/unistd_64.h>, as strace's tests/ksysent.c does.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NR_MAX, SYSCALL_BY_NAME, SYSCALL_CLASSES, SYSCALLS, type SyscallDesc } from './gen/syscalls';

const UNISTD_H = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';

// The test runs from agent/ under tsx and from dist/agent/ once compiled.
function findRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'probes', 'syscalls.tbl'))) return dir;
  }
  throw new Error(`no probes/syscalls.tbl above ${__dirname}`);
}

const ROOT = findRoot();
const GEN = path.join(ROOT, 'probes', 'gen-catalog.ts');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const C_HEADER = path.join(ROOT, 'probes', '.output', 'syscalls.h');
const TS_TABLE = path.join(ROOT, 'agent', 'gen', 'syscalls.ts');

const ROWS: readonly SyscallDesc[] = SYSCALLS.filter((d): d is SyscallDesc => d !== undefined);

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iotrace-catalog-'));
  tmpDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

function runGen(...args: string[]): { status: number | null; stderr: string } {
  const res = spawnSync(TSX, [GEN, ...args], { encoding: 'utf8' });
  if (res.error) throw res.error;
  return { status: res.status, stderr: res.stderr };
}

function row(name: string): SyscallDesc {
  const d = SYSCALL_BY_NAME.get(name);
  assert.ok(d, `${name} is in the catalog`);
  return d;
}

// Index of the first of roles present in args, -1 if none.
function roleIndex(d: SyscallDesc, ...roles: string[]): number {
  for (const role of roles) {
    const i = d.args.indexOf(role);
    if (i >= 0) return i;
  }
  return -1;
}

interface CEntry {
  name: string | null;
  cls: string;
  ret: string;
  fdArg: number;
  inFdArg: number;
  outFdArg: number;
  nfdsArg: number;
  seccomp: number;
}

// Reads the generator's C table back: one `/* nr */ { ... },` line per number.
function readCTable(text: string): { nrMax: number; entries: CEntry[] } {
  const nrMax = Number(/^#define IOT_NR_MAX (\d+)$/m.exec(text)?.[1]);
  const entries: CEntry[] = [];
  const re = /^\t\/\* (\d+) \*\/ \{ IOT_NAME\(("(\w+)"|0)\) (\w+), (\w+), (-?\d+), (-?\d+), (-?\d+), (-?\d+), ([01]) \},$/gm;
  for (const m of text.matchAll(re)) {
    assert.equal(Number(m[1]), entries.length, `C entries are in order, at ${m[1]}`);
    entries.push({
      name: m[3] ?? null,
      cls: m[4]!,
      ret: m[5]!,
      fdArg: Number(m[6]),
      inFdArg: Number(m[7]),
      outFdArg: Number(m[8]),
      nfdsArg: Number(m[9]),
      seccomp: Number(m[10]),
    });
  }
  return { nrMax, entries };
}

describe('syscall catalog', () => {
  const noHeader = existsSync(UNISTD_H) ? false : `${UNISTD_H} is missing (install linux-libc-dev)`;

  it('matches every number and name in <asm/unistd_64.h>', { skip: noHeader }, () => {
    const kernel = new Map<number, string>();
    for (const m of readFileSync(UNISTD_H, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) {
      kernel.set(Number(m[2]), m[1]!);
    }
    assert.ok(kernel.size > 300, `read ${kernel.size} syscalls from ${UNISTD_H}`);

    for (const [nr, name] of kernel) {
      assert.equal(SYSCALLS[nr]?.name, name, `__NR_${name} is ${nr} in the kernel`);
    }
    for (const d of ROWS) {
      assert.equal(kernel.get(d.nr), d.name, `catalog row ${d.nr} ${d.name} is in the kernel header`);
    }
    assert.equal(NR_MAX, Math.max(...kernel.keys()) + 1);
  });

  it('has unique names, and SYSCALLS and SYSCALL_BY_NAME hold the same rows', () => {
    assert.equal(SYSCALLS.length, NR_MAX);
    const names = ROWS.map((d) => d.name);
    assert.equal(new Set(names).size, names.length, 'no name appears twice');
    SYSCALLS.forEach((d, nr) => {
      if (d) assert.equal(d.nr, nr, `${d.name} sits at its own number`);
    });
    assert.equal(SYSCALL_BY_NAME.size, ROWS.length);
    for (const d of ROWS) assert.equal(SYSCALL_BY_NAME.get(d.name), d);
  });

  it('gives every data, select, poll and epoll row the fd and nfds roles the generator reads', () => {
    for (const d of ROWS) {
      const has = (...roles: string[]): boolean => roleIndex(d, ...roles) >= 0;
      const where = `${d.name} (${d.cls}) args: ${d.args.join(' ')}`;
      switch (d.cls) {
        case 'data.read':
        case 'data.write':
        case 'data.mmap':
          assert.ok(has('fd'), `${where} needs fd`);
          break;
        case 'data.sendfile':
        case 'data.copy_file_range':
          assert.ok(has('fd_in', 'in_fd') && has('fd_out', 'out_fd'), `${where} needs a source and a target fd`);
          break;
        case 'data.splice':
          // vmsplice has one pipe fd, splice and tee a source and a target.
          assert.ok(has('fd') || (has('fd_in') && has('fd_out')), `${where} needs fd or fd_in and fd_out`);
          break;
        case 'wait.select':
        case 'wait.poll':
          assert.ok(has('nfds'), `${where} needs nfds`);
          break;
        case 'wait.epoll':
          assert.ok(has('epfd') && has('maxevents'), `${where} needs epfd and maxevents`);
          break;
        default:
          break;
      }
      assert.ok(d.args.length <= 6, `${where}: at most six args`);
    }
  });

  it('classes the I/O syscalls as the classifier expects', () => {
    const expected: Record<string, [string, string]> = {
      read: ['data.read', 'bytes'],
      recvmmsg: ['data.read', 'msgs'],
      writev: ['data.write', 'bytes'],
      sendfile: ['data.sendfile', 'bytes'],
      splice: ['data.splice', 'bytes'],
      copy_file_range: ['data.copy_file_range', 'bytes'],
      mmap: ['data.mmap', '-'],
      select: ['wait.select', 'count'],
      ppoll: ['wait.poll', 'count'],
      epoll_pwait2: ['wait.epoll', 'count'],
      rt_sigtimedwait: ['wait.signal', '-'],
      epoll_ctl: ['mux.setup', '-'],
      io_uring_setup: ['aio.uring', 'fd'],
      io_getevents: ['aio.linux', 'count'],
      accept4: ['net.accept', 'fd'],
      socket: ['net.setup', 'fd'],
      openat: ['fd.open', 'fd'],
      close: ['fd.close', '-'],
      fcntl: ['fd.ctl', '-'],
      clone3: ['proc', '-'],
      futex: ['sync', '-'],
      clock_nanosleep: ['sleep', '-'],
      getpid: ['-', '-'],
    };
    for (const [name, [cls, ret]] of Object.entries(expected)) {
      assert.deepEqual([row(name).cls, row(name).ret], [cls, ret], name);
    }
    for (const d of ROWS) {
      assert.ok(SYSCALL_CLASSES.includes(d.cls), `${d.name}: known class ${d.cls}`);
      assert.equal(d.seccomp, !['-', 'sync', 'sleep'].includes(d.cls), `${d.name}: seccomp follows its class`);
    }
  });

  it('writes a C table with the same rows as the TypeScript one', () => {
    const { nrMax, entries } = readCTable(readFileSync(C_HEADER, 'utf8'));
    assert.equal(nrMax, NR_MAX);
    assert.equal(entries.length, NR_MAX, 'one C entry for every number');
    entries.forEach((e, nr) => {
      const d = SYSCALLS[nr];
      if (!d) {
        assert.deepEqual(e, {
          name: null, cls: 'IOT_CLASS_NONE', ret: 'IOT_RET_NONE',
          fdArg: -1, inFdArg: -1, outFdArg: -1, nfdsArg: -1, seccomp: 0,
        }, `gap ${nr}`);
        return;
      }
      const cls = d.cls === '-' ? 'NONE' : d.cls.replace(/\./g, '_').toUpperCase();
      const ret = d.ret === '-' ? 'NONE' : d.ret.toUpperCase();
      assert.equal(e.name, d.name, `name at ${nr}`);
      assert.equal(e.cls, `IOT_CLASS_${cls}`, `class of ${d.name}`);
      assert.equal(e.ret, `IOT_RET_${ret}`, `ret of ${d.name}`);
      assert.equal(e.seccomp, d.seccomp ? 1 : 0, `seccomp of ${d.name}`);
      assert.equal(e.nfdsArg, roleIndex(d, 'nfds', 'maxevents'), `nfds_arg of ${d.name}`);
      assert.equal(e.fdArg, d.fdArg, `fd_arg of ${d.name}: the C and TypeScript tables agree`);
    });
  });

  it('points the C fd and nfds indexes at the right arguments', () => {
    const { entries } = readCTable(readFileSync(C_HEADER, 'utf8'));
    const at = (name: string): number[] => {
      const e = entries[row(name).nr]!;
      return [e.fdArg, e.inFdArg, e.outFdArg, e.nfdsArg];
    };
    // [fd_arg, in_fd_arg, out_fd_arg, nfds_arg]
    assert.deepEqual(at('read'), [0, 0, -1, -1]);
    assert.deepEqual(at('recvfrom'), [0, 0, -1, -1]);
    assert.deepEqual(at('pwrite64'), [0, -1, 0, -1]);
    assert.deepEqual(at('sendfile'), [1, 1, 0, -1]);
    assert.deepEqual(at('splice'), [0, 0, 2, -1]);
    assert.deepEqual(at('tee'), [0, 0, 1, -1]);
    assert.deepEqual(at('vmsplice'), [0, -1, -1, -1]);
    assert.deepEqual(at('copy_file_range'), [0, 0, 2, -1]);
    assert.deepEqual(at('mmap'), [4, -1, -1, -1]);
    assert.deepEqual(at('select'), [-1, -1, -1, 0]);
    assert.deepEqual(at('poll'), [-1, -1, -1, 1]);
    assert.deepEqual(at('epoll_wait'), [0, -1, -1, 2]);
    assert.deepEqual(at('epoll_ctl'), [2, -1, -1, -1]);
    assert.deepEqual(at('accept4'), [0, -1, -1, -1]);
    assert.deepEqual(at('getpid'), [-1, -1, -1, -1]);
  });

  const noCompiler = ['cc', 'c++', 'clang'].every((c) => spawnSync(c, ['--version']).status === 0)
    ? false
    : 'cc, c++ or clang not installed (npm test installs them)';

  it('compiles the C header warning-free as C and as C++', { skip: noCompiler }, () => {
    const src = `#include "${C_HEADER}"\nint main(void) { return iot_syscalls[0].cls; }\n`;
    for (const [cc, lang, std] of [['cc', 'c', 'c11'], ['c++', 'c++', 'c++17']] as const) {
      const res = spawnSync(cc, ['-x', lang, `-std=${std}`, '-Wall', '-Wextra', '-Werror', '-fsyntax-only', '-'], {
        input: src,
        encoding: 'utf8',
      });
      assert.equal(res.status, 0, `${cc}: ${res.stderr}`);
    }
    // The eBPF probes include it too, where the table has no names.
    const bpf = spawnSync('clang', ['-target', 'bpf', '-x', 'c', '-std=c11', '-Wall', '-Werror', '-fsyntax-only', '-'], {
      input: src,
      encoding: 'utf8',
    });
    assert.equal(bpf.status, 0, `clang -target bpf: ${bpf.stderr}`);
  });

  it('names every number for the probes: IOT_NR_<name> is the row\'s nr', () => {
    const defines = new Map<string, number>();
    for (const m of readFileSync(C_HEADER, 'utf8').matchAll(/^#define IOT_NR_(\w+) (\d+)$/gm)) defines.set(m[1]!, Number(m[2]));
    for (const d of ROWS) assert.equal(defines.get(d.name), d.nr, `IOT_NR_${d.name}`);
    assert.equal(defines.get('MAX'), NR_MAX);
    const table = defines.get('TABLE') ?? 0;
    assert.ok(table >= NR_MAX && (table & (table - 1)) === 0, `IOT_NR_TABLE ${table} is a power of two >= ${NR_MAX}`);
  });

  const noTsx = existsSync(TSX) ? false : `${TSX} is missing (npm install)`;

  it('regenerates byte-identical files from syscalls.tbl (run `npm run gen` if not)', { skip: noTsx }, () => {
    const out = tmpDir();
    const res = runGen(path.join(ROOT, 'probes', 'syscalls.tbl'), out);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(readFileSync(path.join(out, 'syscalls.h'), 'utf8'), readFileSync(C_HEADER, 'utf8'));
    assert.equal(readFileSync(path.join(out, 'syscalls.ts'), 'utf8'), readFileSync(TS_TABLE, 'utf8'));
  });

  const good = '# nr name class ret args\n0  read  data.read  bytes  fd buf count\n';
  const malformed: [string, string, RegExp][] = [
    ['an unknown class', `${good}\n1  write  data.copy  bytes  fd buf count\n`, /bad\.tbl:4: unknown class 'data\.copy'/],
    ['an unknown ret', `${good}1  write  data.write  bytez  fd buf count\n`, /bad\.tbl:3: unknown ret 'bytez'/],
    ['a duplicate nr', `${good}0  write  data.write  bytes  fd buf count\n`, /bad\.tbl:3: duplicate nr 0 .*line 2/],
    ['a duplicate name', `${good}1  read  data.read  bytes  fd buf count\n`, /bad\.tbl:3: duplicate name 'read'.*line 2/],
    ['a row with missing columns', `${good}1  write  data.write\n`, /bad\.tbl:3: expected 'nr name class ret args/],
  ];
  for (const [what, tbl, message] of malformed) {
    it(`rejects ${what} with a non-zero exit and the line number`, { skip: noTsx }, () => {
      const dir = tmpDir();
      const file = path.join(dir, 'bad.tbl');
      const out = path.join(dir, 'out');
      writeFileSync(file, tbl);
      const res = runGen(file, out);
      assert.notEqual(res.status, 0);
      assert.match(res.stderr, message);
      assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'writes nothing');
    });
  }
});
