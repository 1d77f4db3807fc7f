/* SPDX-License-Identifier: MIT */
/* The aggregation model shared by the eBPF probes and the native backends:
 * whichever backend runs, it fills these structs and nothing above native can
 * tell them apart. */
#ifndef IOTRACE_H
#define IOTRACE_H

/* The probes get these types from vmlinux.h, which clashes with the uapi headers. */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

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
	__u64 max_watched;              /* largest nfds/maxevents argument (select: highest fd + 1) */
	__u64 eagain_spin;              /* EAGAIN returns that followed another EAGAIN of the
	                                 * same thread with no wait, sync or sleep call between */
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
	__u64 reads;                    /* data.read calls on it (as in_fd) that returned > 0 bytes:
	                                 * the classifier's request/response exchanges */
};

/* Where a thread's time in syscalls went, by the kind of waiting it stands
 * for: the classifier's "who waits where". From the catalog class at exit. */
enum iot_wait_kind {
	IOT_WAIT_SELECT = 0,            /* wait.select */
	IOT_WAIT_POLL,                  /* wait.poll */
	IOT_WAIT_EPOLL,                 /* wait.epoll */
	IOT_WAIT_SIGNAL,                /* wait.signal */
	IOT_WAIT_URING,                 /* aio.uring */
	IOT_WAIT_AIO,                   /* aio.linux */
	IOT_WAIT_IO,                    /* data.* except data.mmap, net.accept, net.setup:
	                                 * calls that did not fail with EAGAIN */
	IOT_WAIT_SLEEP,                 /* sleep and sync (futex): waiting for time or a peer thread */
	IOT_WAIT_KINDS,
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
	__u64 wait_ns[IOT_WAIT_KINDS];  /* time inside syscalls, by iot_wait_kind */
	__u64 wait_calls[IOT_WAIT_KINDS];
	__u64 eagain;                   /* calls that failed with EAGAIN */
	__u64 eagain_spin;              /* as sys_stat.eagain_spin */
	__u32 spin_armed;               /* an EAGAIN since the last wait/sync/sleep call */
	__u32 pad;
};

/* epoll_event.events bits the classifier reads (uapi/linux/eventpoll.h). */
#define IOT_EPOLLET        (1u << 31)
#define IOT_EPOLLONESHOT   (1u << 30)
#define IOT_EPOLLEXCLUSIVE (1u << 28)
#define IOT_IORING_SETUP_SQPOLL (1u << 1)
#define IOT_MSG_ZEROCOPY   0x4000000u
#define IOT_O_NONBLOCK     04000u
#define IOT_O_ASYNC        020000u
/* Arguments io_stat looks at (x86_64 values; native/aggregate.cc checks them
 * against the libc headers, which the probes cannot include). */
#define IOT_EPOLL_CTL_ADD  1
#define IOT_EPOLL_CTL_DEL  2
#define IOT_EPOLL_CTL_MOD  3
#define IOT_MAP_SHARED     0x01u
#define IOT_MAP_ANONYMOUS  0x20u
#define IOT_PROT_EXEC      0x4u
#define IOT_F_SETFL        4
#define IOT_F_SETOWN       8
#define IOT_F_SETSIG       10
#define IOT_F_SETOWN_EX    15
#define IOT_FIONBIO        0x5421u
#define IOT_FIOASYNC       0x5452u
#define IOT_EAGAIN         11
#define IOT_EPOLL_EVENT_SIZE 12         /* x86_64's packed struct epoll_event */
#define IOT_URING_PARAMS_FLAGS_OFF 8    /* offsetof(struct io_uring_params, flags) */

/* Session-wide facts about how the traced processes set their I/O up: the
 * inputs of the classifier that per-syscall counts cannot give. */
struct io_stat {
	__u64 epoll_ctl_add;            /* successful EPOLL_CTL_ADD */
	__u64 epoll_ctl_mod;            /* successful EPOLL_CTL_MOD */
	__u64 epoll_ctl_del;            /* successful EPOLL_CTL_DEL */
	__u64 epoll_ctl_et;             /* successful ADD/MOD whose event had EPOLLET */
	__u64 epoll_ctl_oneshot;        /* ... EPOLLONESHOT */
	__u64 epoll_ctl_exclusive;      /* ... EPOLLEXCLUSIVE */
	__u64 epoll_ctl_unread;         /* successful ADD/MOD whose event could not be read */
	__u64 uring_setups;             /* successful io_uring_setup */
	__u64 uring_setup_flags;        /* OR of their io_uring_params.flags */
	__u64 uring_sqpoll;             /* of them, with IORING_SETUP_SQPOLL */
	__u64 uring_submitted;          /* sum of io_uring_enter's non-negative returns (SQEs consumed) */
	__u64 aio_submitted;            /* sum of io_submit's non-negative returns (iocbs queued) */
	__u64 mmap_file;                /* successful MAP_SHARED mmap of a regular file, without PROT_EXEC */
	__u64 mmap_file_bytes;          /* their lengths */
	__u64 zerocopy_sends;           /* successful send/sendto/sendmsg with MSG_ZEROCOPY */
	__u64 zerocopy_bytes;           /* their returns */
	__u64 nonblock_sets;            /* fcntl(F_SETFL) with O_NONBLOCK, ioctl(FIONBIO) with *arg != 0
	                                 * (unread arg: counted), accept4/socket with SOCK_NONBLOCK */
	__u64 async_sets;               /* fcntl(F_SETFL) with O_ASYNC, ioctl(FIOASYNC) */
	__u64 setown;                   /* fcntl F_SETOWN or F_SETOWN_EX */
	__u64 setsig;                   /* fcntl F_SETSIG with a nonzero signal */
};

/* io_uring opcodes are below 64 today (IORING_OP_LAST is 62 in Linux 6.18);
 * a larger one lands in the last slot. */
#define IOT_URING_OPS 64

/* Per io_uring opcode: the requests of the target's rings, accounted as the
 * syscall of an epoll server is. Invisible to a syscall tracer: once
 * submitted (or, with SQPOLL, without any syscall) the kernel does the I/O. */
struct uring_op_stat {
	__u64 submitted;
	__u64 completions;      /* CQEs; a multishot request posts several */
	__u64 errors;           /* completions with res < 0 */
	__u64 eagain;
	__u64 bytes;            /* positive results of the opcodes that move bytes */
	__u64 total_ns;         /* submit to completion */
	__u64 max_ns;
	__u64 lat_log2[IOT_LAT_BUCKETS];
};

/* One finished syscall, for the timeline (--events): what both backends
 * push into their bounded ring at the call's exit, after it is counted. A
 * full ring drops the event and counts it, never blocks the target. */
struct iot_event {
	__u64 start_ns;                 /* CLOCK_MONOTONIC at entry */
	__u64 dur_ns;                   /* entry to exit, as sys_stat.total_ns counts it */
	__u32 pid;                      /* tgid */
	__u32 tid;
	__s32 nr;
	__s32 fd;                       /* the catalog's fd_arg, -1 if the call has none */
	__s64 ret;                      /* raw return: a negative errno on error */
};

#endif /* IOTRACE_H */
