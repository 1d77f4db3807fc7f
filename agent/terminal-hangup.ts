// SPDX-License-Identifier: MIT
// A terminal that goes away (its window closed, an ssh session dropped) is an
// ordinary end: SIGHUP, then EIO on every write to it. Neither is a bug, and
// neither may keep iotrace from detaching and exiting cleanly.
import * as fs from 'node:fs';
import * as tty from 'node:tty';

/** Write errors that only say the reader is gone: a closed pipe, a hung-up terminal. */
export function readerGone(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EPIPE' || err.code === 'EIO';
}

/**
 * At exit, Node restores the terminal settings it found at start-up on every
 * stdio fd that still is the file it was, and aborts (SIGABRT, a core dump)
 * when that tcsetattr fails, as it does with EIO on a hung-up terminal (Node
 * 20; fixed by nodejs/node#58200). A hung-up terminal fails isatty(): each
 * such fd becomes /dev/null before the exit, which Node then leaves alone.
 */
export function releaseHungUpTerminalAtExit(): void {
  const wasTty = [0, 1, 2].map((fd) => tty.isatty(fd));
  process.on('exit', () => {
    for (const fd of [0, 1, 2]) {
      if (!wasTty[fd] || tty.isatty(fd)) continue;
      try {
        fs.closeSync(fd);
        // open() takes the lowest free descriptor: the one just closed.
        const nul = fs.openSync('/dev/null', fd === 0 ? 'r' : 'w');
        if (nul !== fd) fs.closeSync(nul);
      } catch {
        // Nothing better to do at exit; Node's check may still fail.
      }
    }
  });
}
