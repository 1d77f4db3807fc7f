// SPDX-License-Identifier: MIT
// The lab's reference server on Node's `net` module: one libuv epoll loop
// answering echo lines, GET /<size> and GET /file on 127.0.0.1.
// Usage: node dist/agent/lab/node-net-echo.js [--port P] [--file PATH]
import * as fs from 'node:fs';
import * as net from 'node:net';

import { HTTP_400, announce, ensureFile, httpHead, parseLabArgs, parseRequest, patternChunks, runServer } from './proto';

const USAGE = 'usage: node-net-echo.js [--port P] [--file PATH]';
const EMPTY: Buffer = Buffer.alloc(0);

/** One connection: requests are answered in order, one at a time. */
function serve(sock: net.Socket, file: string): void {
  let pending: Buffer = EMPTY;
  // A GET /file answer is streaming: later requests wait for it.
  let busy = false;
  // After "Connection: close" or a bad request: answer nothing more.
  let ended = false;

  const end = (last = ''): void => {
    ended = true;
    pending = EMPTY;
    sock.end(last);
  };

  const sendFile = (keepAlive: boolean): void => {
    busy = true;
    // stat, open and read run on libuv's thread pool, as any Node file server's do.
    fs.stat(file, (err, st) => {
      if (err) {
        sock.destroy(err);
        return;
      }
      sock.write(httpHead(st.size, keepAlive));
      const stream = fs.createReadStream(file);
      stream.on('data', (chunk) => {
        if (!sock.write(chunk)) {
          stream.pause();
          sock.once('drain', () => stream.resume());
        }
      });
      stream.on('error', (e) => sock.destroy(e));
      stream.on('end', () => {
        busy = false;
        if (keepAlive) drain();
        else end();
      });
    });
  };

  const drain = (): void => {
    sock.cork();
    while (!busy && !ended && pending.length > 0) {
      const req = parseRequest(pending);
      if (req.kind === 'incomplete') break;
      if (req.kind === 'bad') {
        end(HTTP_400);
        break;
      }
      const body = pending.subarray(0, req.consumed);
      pending = pending.subarray(req.consumed);
      if (req.kind === 'echo') {
        sock.write(body);
      } else if (req.kind === 'size') {
        sock.write(httpHead(req.size, req.keepAlive));
        for (const chunk of patternChunks(req.size)) sock.write(chunk);
        if (!req.keepAlive) end();
      } else {
        sendFile(req.keepAlive);
      }
    }
    // One writev for everything answered in this turn.
    sock.uncork();
    // A client that sends without reading must not grow our queue forever.
    if (sock.writableNeedDrain && !sock.isPaused()) {
      sock.pause();
      sock.once('drain', () => sock.resume());
    }
  };

  sock.setNoDelay(true);
  sock.on('data', (data: Buffer) => {
    if (ended) return;
    pending = pending.length > 0 ? Buffer.concat([pending, data]) : data;
    if (!busy) drain();
  });
  sock.on('error', () => sock.destroy());
}

runServer(() => {
  const opts = parseLabArgs(process.argv.slice(2), USAGE);
  ensureFile(opts.file);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    serve(sock, opts.file);
  });
  server.on('error', (err) => {
    process.stderr.write(`node-net-echo: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, '127.0.0.1', () => {
    const addr = server.address() as net.AddressInfo;
    announce(addr.port);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    for (const sock of sockets) sock.destroy();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
