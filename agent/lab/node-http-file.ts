// SPDX-License-Identifier: MIT
// The lab's reference file server on Node's `http` module: the epoll loop
// parses requests and writes answers, fs.createReadStream reads GET /file on
// libuv's thread pool (or through io_uring with UV_USE_IO_URING=1).
// Usage: node dist/agent/lab/node-http-file.js [--port P] [--file PATH]
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { PROTO_MAX_BODY, announce, ensureFile, parseLabArgs, patternChunks, runServer } from './proto';

const USAGE = 'usage: node-http-file.js [--port P] [--file PATH]';
const SIZE_PATH = /^\/(\d+)$/;

function badRequest(res: http.ServerResponse): void {
  res.writeHead(400, { 'Content-Length': 0, Connection: 'close' });
  res.end();
}

function serveFile(file: string, res: http.ServerResponse): void {
  fs.stat(file, (err, st) => {
    if (err) {
      res.writeHead(500, { 'Content-Length': 0, Connection: 'close' });
      res.end();
      return;
    }
    // Content-Length, not chunked: every lab client reads a sized body.
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': st.size });
    const stream = fs.createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  });
}

runServer(() => {
  const opts = parseLabArgs(process.argv.slice(2), USAGE);
  ensureFile(opts.file);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url === undefined) {
      badRequest(res);
      return;
    }
    if (req.url === '/file') {
      serveFile(opts.file, res);
      return;
    }
    const m = SIZE_PATH.exec(req.url);
    const size = m ? Number(m[1]) : NaN;
    if (!(size <= PROTO_MAX_BODY)) {
      badRequest(res);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    const chunks = patternChunks(size);
    // The last chunk goes with end(): Node sends a small answer's head and body in one write.
    for (const chunk of chunks.slice(0, -1)) res.write(chunk);
    res.end(chunks[chunks.length - 1]);
  });
  server.on('error', (err) => {
    process.stderr.write(`node-http-file: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, '127.0.0.1', () => {
    announce((server.address() as AddressInfo).port);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
