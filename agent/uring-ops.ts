// SPDX-License-Identifier: MIT
// io_uring opcodes (include/uapi/linux/io_uring.h, enum io_uring_op, Linux
// 6.18) and what each means for the data path, for the requests the eBPF
// backend counts from the io_uring tracepoints.

/** Opcode names by number, as the kernel's io_uring_get_opcode() spells them (lower-cased). */
export const URING_OP_NAMES: readonly string[] = [
  'nop', 'readv', 'writev', 'fsync', 'read_fixed', 'write_fixed', 'poll_add', 'poll_remove',
  'sync_file_range', 'sendmsg', 'recvmsg', 'timeout', 'timeout_remove', 'accept', 'async_cancel',
  'link_timeout', 'connect', 'fallocate', 'openat', 'close', 'files_update', 'statx', 'read', 'write',
  'fadvise', 'madvise', 'send', 'recv', 'openat2', 'epoll_ctl', 'splice', 'provide_buffers',
  'remove_buffers', 'tee', 'shutdown', 'renameat', 'unlinkat', 'mkdirat', 'symlinkat', 'linkat',
  'msg_ring', 'fsetxattr', 'setxattr', 'fgetxattr', 'getxattr', 'socket', 'uring_cmd', 'send_zc',
  'sendmsg_zc', 'read_multishot', 'waitid', 'futex_wait', 'futex_wake', 'futex_waitv',
  'fixed_fd_install', 'ftruncate', 'bind', 'listen', 'recv_zc', 'epoll_wait', 'readv_fixed',
  'writev_fixed', 'pipe',
];

/**
 * What a request moves: 'read'/'write' copy through a user buffer like the
 * syscall of the same name; 'zero-copy' hands pages over (send_zc's pinned
 * user pages, splice/tee's pipe pages); 'accept' makes a connection.
 */
export type UringOpKind = 'read' | 'write' | 'zero-copy' | 'accept' | 'other';

const KINDS: Readonly<Record<string, UringOpKind>> = {
  readv: 'read', read_fixed: 'read', recvmsg: 'read', read: 'read', recv: 'read', read_multishot: 'read', readv_fixed: 'read',
  writev: 'write', write_fixed: 'write', sendmsg: 'write', write: 'write', send: 'write', writev_fixed: 'write',
  send_zc: 'zero-copy', sendmsg_zc: 'zero-copy', splice: 'zero-copy', tee: 'zero-copy', recv_zc: 'zero-copy',
  accept: 'accept',
};

export function uringOpName(opcode: number): string {
  return URING_OP_NAMES[opcode] ?? `op_${opcode}`;
}

export function uringOpKind(name: string): UringOpKind {
  return KINDS[name] ?? 'other';
}
