#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Bounded echo load for the demo: N connections on 127.0.0.1 send a line and
// wait for it back, until the time is up. Usage: echo-load.js PORT [SECONDS] [CONNS]
'use strict';
const net = require('node:net');

const port = Number(process.argv[2]);
const seconds = Math.min(Number(process.argv[3] ?? 5), 60);
const conns = Math.min(Number(process.argv[4] ?? 4), 64);
const deadline = Date.now() + seconds * 1000;
let done = 0;
let bad = 0;
let open = conns;

for (let i = 0; i < conns; i++) {
  const sock = net.connect(port, '127.0.0.1');
  const line = `hello from connection ${i}\n`;
  let got = '';
  const send = () => (Date.now() < deadline ? sock.write(line) : sock.end());
  sock.on('connect', send);
  sock.on('data', (d) => {
    got += d.toString();
    while (got.length >= line.length) {
      if (got.slice(0, line.length) !== line) bad++;
      got = got.slice(line.length);
      done++;
      send();
    }
  });
  sock.on('close', () => {
    if (--open === 0) {
      console.error(`echo-load: ${done} requests in ${seconds} s over ${conns} connections, ${bad} wrong replies`);
      process.exitCode = bad ? 1 : 0;
    }
  });
  sock.on('error', (e) => console.error(`echo-load: ${e.message}`));
}
