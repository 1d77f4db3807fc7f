// SPDX-License-Identifier: MIT
// The lab protocol for the Node reference servers, mirroring native/lab/proto.h
// and proto.c: echo lines and a minimal HTTP/1.1 GET, told apart by the first bytes.
import * as fs from 'node:fs';

import { EXIT_USAGE, IotraceError } from '../errors';

/** Longest echo line and longest HTTP request head accepted (PROTO_MAX_REQUEST). */
export const PROTO_MAX_REQUEST = 8192;
/** Largest GET /<size> body served (PROTO_MAX_BODY). */
export const PROTO_MAX_BODY = 64 * 1024 * 1024;
/** The file GET /file serves unless --file says otherwise (lab_parse_args). */
export const DEFAULT_FILE = '/tmp/iotrace-lab-file.bin';
/** Size of the file made when it is absent (lab_open_file). */
export const DEFAULT_FILE_BYTES = 65536;

export const HTTP_400 = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

export type LabRequest =
  | { kind: 'incomplete' }
  | { kind: 'bad' }
  | { kind: 'echo'; consumed: number }
  | { kind: 'size'; consumed: number; size: number; keepAlive: boolean }
  | { kind: 'file'; consumed: number; keepAlive: boolean };

const GET = Buffer.from('GET ');

/** Parses the request at the start of buf, as proto_parse() does. */
export function parseRequest(buf: Buffer): LabRequest {
  const window = buf.subarray(0, PROTO_MAX_REQUEST);
  if (buf.length >= 4 && buf.subarray(0, 4).equals(GET)) {
    const end = window.indexOf('\r\n\r\n');
    if (end < 0) return { kind: buf.length >= PROTO_MAX_REQUEST ? 'bad' : 'incomplete' };
    const consumed = end + 4;
    const head = buf.toString('latin1', 0, consumed);
    const keepAlive = !head.includes('\r\nConnection: close\r\n');
    if (head.startsWith('GET /file ')) return { kind: 'file', consumed, keepAlive };
    // strtoull() in proto.c: digits, then a space; nothing else.
    const m = /^GET \/(\d+) /.exec(head);
    if (m) {
      const size = Number(m[1]);
      if (size <= PROTO_MAX_BODY) return { kind: 'size', consumed, size, keepAlive };
    }
    return { kind: 'bad' };
  }
  // "GET" may still be arriving: wait before calling it an echo line.
  if (buf.length < 4 && GET.subarray(0, buf.length).equals(buf)) return { kind: 'incomplete' };
  const nl = window.indexOf(10);
  if (nl < 0) return { kind: buf.length >= PROTO_MAX_REQUEST ? 'bad' : 'incomplete' };
  return { kind: 'echo', consumed: nl + 1 };
}

/** The 200 head for a body of `length` bytes, as proto_http_head() writes it. */
export function httpHead(length: number, keepAlive: boolean): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
}

const CHUNK_BYTES = 1 << 20;
let patternBuf: Buffer | undefined;

/**
 * A body of `size` pattern bytes ('a' + i % 26) as views into one shared
 * buffer: no per-request fill or copy, whatever the size.
 */
export function patternChunks(size: number): Buffer[] {
  // Buffer.alloc repeats a string fill; 26 spare bytes let a view start at any phase.
  patternBuf ??= Buffer.alloc(CHUNK_BYTES + 26, 'abcdefghijklmnopqrstuvwxyz', 'latin1');
  const chunks: Buffer[] = [];
  for (let off = 0; off < size; off += CHUNK_BYTES) {
    const phase = off % 26;
    chunks.push(patternBuf.subarray(phase, phase + Math.min(CHUNK_BYTES, size - off)));
  }
  return chunks;
}

/** Creates the served file with 64 KiB of the pattern if it is absent, atomically (lab_open_file). */
export function ensureFile(file: string): void {
  if (fs.existsSync(file)) return;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat(patternChunks(DEFAULT_FILE_BYTES)), { flag: 'wx' });
  fs.renameSync(tmp, file);
}

export interface LabServerOptions {
  /** 0: any free port. */
  port: number;
  file: string;
}

/** `--port P` and `--file PATH`, as lab_parse_args() takes them. */
export function parseLabArgs(argv: readonly string[], usage: string): LabServerOptions {
  const opts: LabServerOptions = { port: 0, file: DEFAULT_FILE };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new IotraceError('EUSAGE', usage, EXIT_USAGE);
    if (argv[i] === '--port') {
      const port = Number(value);
      if (!/^\d+$/.test(value) || port > 65535) throw new IotraceError('EUSAGE', `--port must be 0..65535, not '${value}'`, EXIT_USAGE);
      opts.port = port;
    } else if (argv[i] === '--file') {
      opts.file = value;
    } else {
      throw new IotraceError('EUSAGE', usage, EXIT_USAGE);
    }
  }
  return opts;
}

/** Prints "port=<n>": how the lab learns the port (lab_announce). */
export function announce(port: number): void {
  process.stdout.write(`port=${port}\n`);
}

/** Runs main; an IotraceError is one line on stderr and its exit status, as the CLI does. */
export function runServer(main: () => void): void {
  try {
    main();
  } catch (err) {
    if (!(err instanceof IotraceError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(err.exitStatus);
  }
}
