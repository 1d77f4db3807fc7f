// SPDX-License-Identifier: MIT
// Loaded into every node process of `npm run test:sanitize` (NODE_OPTIONS=--require):
// keeps libasan's LD_PRELOAD to the processes that need it, the node processes that may
// load the sanitized addon, and out of every command iotrace or a test traces.
//
// Why: libasan must be the first library of a process that loads the ASan addon, so
// node needs LD_PRELOAD; but a dynamic command that inherits it loads libasan too, whose
// start-up adds syscalls (openat of /proc/self/maps and more) that an untraced run does
// not make, and tests count those syscalls (e.g. the dash of exactness.test.ts, held to
// 8 openat). So LD_PRELOAD is removed from this process's environment, and put back
// only into the environment of a child that runs node or runs iotrace through a
// launcher (sh -c, setpriv, tmux: their arguments name node or bin/iotrace). strace, workloads,
// servers and the commands of `iotrace run` start as they do in `npm test`.
'use strict';
const childProcess = require('node:child_process');
const path = require('node:path');

const preload = process.env.IOTRACE_SANITIZE_PRELOAD;
if (preload) {
  delete process.env.LD_PRELOAD;
  // node by its path, or iotrace by its script, this checkout's or a copy's (ebpf.test.ts
  // runs a readable copy as nobody through setpriv), bare or in a shell command line.
  const runsNode = (file, args) =>
    [file, ...args].some((a) => a === process.execPath || path.basename(String(a)) === 'node' || /\bbin\/iotrace\b/.test(String(a)));

  // (file[, args][, options][, callback]) as child_process takes them: the options get
  // an env with or without LD_PRELOAD; everything else is passed on as it came.
  const wrap = (name) => {
    const original = childProcess[name];
    childProcess[name] = function (file, ...rest) {
      const hasArgs = Array.isArray(rest[0]);
      const args = hasArgs ? rest.shift() : [];
      const options = rest[0] !== null && typeof rest[0] === 'object' ? rest.shift() : {};
      const env = { ...(options.env || process.env) };
      delete env.LD_PRELOAD;
      // fork always runs node; exec/execSync take a shell command line as file.
      if (name === 'fork' || runsNode(file, args)) env.LD_PRELOAD = preload;
      return original.call(this, file, ...(hasArgs ? [args] : []), { ...options, env }, ...rest);
    };
  };
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync', 'fork']) wrap(name);
}
