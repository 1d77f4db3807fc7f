/* SPDX-License-Identifier: MIT */
/* The eBPF backend's map values, shared by the probes (probes/iotrace.bpf.c)
 * and the user-space side that reads them (native/ebpf/). Everything a
 * snapshot shows is in the structs of probes/iotrace.h; these add what the
 * probes need to fill them without a tracer stopping the target. */
#ifndef IOTRACE_EBPF_H
#define IOTRACE_EBPF_H

#include "probes/iotrace.h"

/* Map sizes: the ptrace backend's caps (native/aggregate.h). An update that
 * does not fit is counted in iot_ebpf_counters, never silently lost. */
#define IOT_EBPF_MAX_THREADS 65536
#define IOT_EBPF_MAX_FDS 65536
#define IOT_EBPF_MAX_PROCS 16384
#define IOT_EBPF_MAX_ERRNO_KEYS 8192
#define IOT_EBPF_MAX_URING_INFLIGHT 65536
/* The events ring buffer (--events): 8 MiB holds ~174k events of 40 bytes
 * plus their 8-byte record headers, a second of a busy server between two
 * drains. Without --events it is shrunk to one page before load. */
#define IOT_EBPF_EVENTS_BYTES (8u << 20)

/* Per thread (key: tid): its stats plus the syscall it is inside. */
struct iot_thread {
	struct thread_stat st;
	__u64 args[6];          /* of the syscall being made */
	__u64 enter_ns;
	__u32 nr;
	__u8 in_syscall;        /* between sys_enter and sys_exit */
	__u8 alive;             /* a target thread that has not exited */
	__u8 from_fork;         /* new thread: its first exit is the return of clone/fork in the child */
	__u8 until_exec;        /* run mode: counting starts at its execve */
};

/* Ended threads whose entry a new thread with the same tid replaced (pid
 * numbers wrapped around), summed before the entry is overwritten. User
 * space takes the other ended ones out of the map (native/aggregate.h
 * kMaxEndedThreads) and adds this in. */
struct iot_folded {
	__u64 threads;
	struct thread_stat sum;
};

/* Per process (key: tgid). */
struct iot_proc {
	__u32 parent;           /* 0: a process given to the tracer */
	__u32 execs;
	__s32 status;           /* wait(2) status once exited */
	__u8 exited;
	__u8 pad[3];
};

/* What the probes count besides syscalls; the fields the C++ Counters has
 * the same names for. */
struct iot_ebpf_counters {
	__u64 clones;
	__u64 forks;
	__u64 execs;
	__u64 thread_exits;
	__u64 signals;
	__u64 unmatched_exits;
	__u64 unknown_nr;
	__u64 fd_overflow;
	__u64 thread_overflow;
	__u64 process_overflow;
	__u64 uring_overflow;   /* io_uring requests not followed: the in-flight map was full */
	__u64 events_dropped;   /* --events: events not captured, the ring buffer was full */
};

/* Bit n: a positive result of opcode n counts bytes (READV 1, WRITEV 2,
 * READ_FIXED 4, WRITE_FIXED 5, SENDMSG 9, RECVMSG 10, READ 22, WRITE 23,
 * SEND 26, RECV 27, SPLICE 30, TEE 33, SEND_ZC 47, SENDMSG_ZC 48,
 * READ_MULTISHOT 49, READV_FIXED 60, WRITEV_FIXED 61). */
#define IOT_URING_BYTES_OPS \
	((1ull << 1) | (1ull << 2) | (1ull << 4) | (1ull << 5) | (1ull << 9) | (1ull << 10) | \
	 (1ull << 22) | (1ull << 23) | (1ull << 26) | (1ull << 27) | (1ull << 30) | (1ull << 33) | \
	 (1ull << 47) | (1ull << 48) | (1ull << 49) | (1ull << 60) | (1ull << 61))

/* CQE flags (uapi/linux/io_uring.h). */
#define IOT_CQE_F_MORE  (1u << 1)
#define IOT_CQE_F_NOTIF (1u << 3)

struct iot_uring_req {
	__u64 submit_ns;
	__u32 opcode;
	__u32 pad;
};

/* An io_uring request known by its ring and user_data: how the CQEs a
 * multishot request posts without its request pointer are attributed. */
struct iot_uring_key {
	__u64 ctx;
	__u64 user_data;
};

#endif /* IOTRACE_EBPF_H */
