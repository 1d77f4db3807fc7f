/* SPDX-License-Identifier: MIT */
/* The aggregation model shared by the eBPF probes and the native backends:
 * whichever backend runs, it fills these structs and nothing above native can
 * tell them apart. */
#ifndef IOTRACE_H
#define IOTRACE_H

#include <linux/types.h>

/* Latency buckets: bucket i counts calls with 2^i <= ns < 2^(i+1); bucket 0
 * also takes 0 and 1 ns, the last one everything above 2^31 ns (~2.1 s). */
#define IOT_LAT_BUCKETS 32

/* errno values counted one by one; a larger errno (none exists on x86_64
 * today, EHWPOISON is 133) lands in slot 0. */
#define IOT_ERRNO_SLOTS 134

/* Returns in [-4095, -1] are errors (include/linux/err.h, MAX_ERRNO). */
#define IOT_MAX_ERRNO 4095

/* Value of the per-syscall stats, indexed by syscall number. */
struct sys_stat {
	__u64 calls;
	__u64 errors;                   /* returns in [-4095, -1] */
	__u64 eagain;                   /* errors that were EAGAIN (== EWOULDBLOCK) */
	__u64 total_ns;                 /* sum of entry-to-exit latency */
	__u64 max_ns;
	__u64 bytes;                    /* sum of positive returns, ret=bytes syscalls only */
	__u64 ready;                    /* sum of positive returns, ret=count (ready fds) */
	__u64 watched;                  /* sum of the nfds/maxevents argument */
	__u64 lat_log2[IOT_LAT_BUCKETS]; /* 64-bit: 100k calls/s would wrap 32 bits in 12 h */
};

/* Per (tgid, fd): what went through one descriptor number. The number is
 * reused after close, so `closes` says how many descriptors it stood for. */
struct fd_stat {
	__u64 calls;                    /* syscalls naming this fd */
	__u64 errors;
	__u64 bytes_in;                 /* into the process: read, recv, or the source of sendfile/splice */
	__u64 bytes_out;                /* out of the process: write, send, or the target of sendfile/splice */
	__u64 closes;                   /* successful close() of this number */
};

/* Per thread: totals and what it is doing right now. */
struct thread_stat {
	__u32 tgid;
	__u32 tid;
	__u64 calls;
	__u64 total_ns;                 /* time inside syscalls */
	__u64 bytes_in;
	__u64 bytes_out;
	__s32 cur_nr;                   /* syscall it is inside now, -1 when in user space */
	__s32 cur_fd;                   /* that syscall's fd argument, -1 if none */
	__u64 cur_since_ns;             /* CLOCK_MONOTONIC at entry of cur_nr */
};

#endif /* IOTRACE_H */
