/* SPDX-License-Identifier: MIT */
/* How one finished syscall is counted into the model of probes/iotrace.h,
 * written once for both backends: the ptrace tracer (native/aggregate.cc,
 * C++) and the eBPF probes (probes/iotrace.bpf.c, restricted C). Each finds
 * the structs its own way (a hash table under a lock, a BPF map) and hands
 * them here, so the two cannot drift apart in what they count. */
#ifndef IOTRACE_ACCOUNT_H
#define IOTRACE_ACCOUNT_H

#include "probes/iotrace.h"
#include "probes/.output/syscalls.h"

#ifdef __bpf__
#define IOT_INLINE static __always_inline
#else
#define IOT_INLINE static inline
#endif

/* Bucket of a latency (see IOT_LAT_BUCKETS): floor(log2(ns)), by halving
 * steps because BPF has no count-leading-zeros instruction. */
IOT_INLINE unsigned iot_log2_bucket(__u64 ns)
{
	unsigned b = 0;

	if (ns >> 32) { ns >>= 32; b += 32; }
	if (ns >> 16) { ns >>= 16; b += 16; }
	if (ns >> 8) { ns >>= 8; b += 8; }
	if (ns >> 4) { ns >>= 4; b += 4; }
	if (ns >> 2) { ns >>= 2; b += 2; }
	if (ns >> 1) { b += 1; }
	return b < IOT_LAT_BUCKETS ? b : IOT_LAT_BUCKETS - 1;
}

/* The iot_wait_kind a finished call's time counts under, -1 for none. */
IOT_INLINE int iot_wait_kind(unsigned cls, int eagain)
{
	switch (cls) {
	case IOT_CLASS_WAIT_SELECT: return IOT_WAIT_SELECT;
	case IOT_CLASS_WAIT_POLL: return IOT_WAIT_POLL;
	case IOT_CLASS_WAIT_EPOLL: return IOT_WAIT_EPOLL;
	case IOT_CLASS_WAIT_SIGNAL: return IOT_WAIT_SIGNAL;
	case IOT_CLASS_AIO_URING: return IOT_WAIT_URING;
	case IOT_CLASS_AIO_LINUX: return IOT_WAIT_AIO;
	case IOT_CLASS_DATA_READ:
	case IOT_CLASS_DATA_WRITE:
	case IOT_CLASS_DATA_SENDFILE:
	case IOT_CLASS_DATA_SPLICE:
	case IOT_CLASS_DATA_COPY_FILE_RANGE:
	case IOT_CLASS_NET_ACCEPT:
	case IOT_CLASS_NET_SETUP:
		return eagain ? -1 : IOT_WAIT_IO;
	case IOT_CLASS_SYNC:
	case IOT_CLASS_SLEEP:
		return IOT_WAIT_SLEEP;
	default:
		return -1; /* data.mmap, mux.setup, fd.*, proc, - */
	}
}

IOT_INLINE int iot_is_error(__s64 rval)
{
	return rval < 0 && rval >= -IOT_MAX_ERRNO;
}

/* The syscall's own stats. Returns the bytes it moved (0 if none); the
 * caller counts the errno, which needs a table of its own. */
IOT_INLINE __u64 iot_account_sys(struct sys_stat *s, const struct iot_syscall_desc *d,
				 const __u64 args[6], __s64 rval, __u64 latency_ns)
{
	__u64 bytes = 0;

	s->calls++;
	s->total_ns += latency_ns;
	if (latency_ns > s->max_ns)
		s->max_ns = latency_ns;
	s->lat_log2[iot_log2_bucket(latency_ns) & (IOT_LAT_BUCKETS - 1)]++;
	if (iot_is_error(rval)) {
		s->errors++;
		if (rval == -IOT_EAGAIN)
			s->eagain++;
	} else if (rval > 0) {
		if (d->ret == IOT_RET_BYTES)
			bytes = (__u64)rval;
		else if (d->ret == IOT_RET_COUNT)
			s->ready += (__u64)rval;
	}
	s->bytes += bytes;
	if (d->nfds_arg >= 0 && d->nfds_arg < 6) {
		__u64 nfds = args[d->nfds_arg] & 0xffffffffull; /* int nfds */

		s->watched += nfds;
		if (nfds > s->max_watched)
			s->max_watched = nfds;
	}
	return bytes;
}

/* The thread's totals, its wait kinds and its spins (which the syscall's
 * stats count too). The caller clears cur_* (the thread left the call). */
IOT_INLINE void iot_account_thread(struct thread_stat *t, struct sys_stat *s,
				   const struct iot_syscall_desc *d, __s64 rval,
				   __u64 bytes, __u64 latency_ns)
{
	int eagain = rval == -IOT_EAGAIN;
	int kind = iot_wait_kind(d->cls, eagain);

	t->calls++;
	t->total_ns += latency_ns;
	if (d->in_fd_arg >= 0)
		t->bytes_in += bytes;
	if (d->out_fd_arg >= 0)
		t->bytes_out += bytes;
	if (kind >= 0 && kind < IOT_WAIT_KINDS) {
		t->wait_ns[kind] += latency_ns;
		t->wait_calls[kind]++;
	}
	/* Busy polling: an EAGAIN after another one of this thread with no
	 * wait, sync or sleep call between. A successful read between does not
	 * break the spin; a wait does, even one that itself failed with EAGAIN. */
	if (eagain) {
		t->eagain++;
		if (t->spin_armed) {
			t->eagain_spin++;
			s->eagain_spin++;
		}
		t->spin_armed = 1;
	}
	if (kind >= 0 && kind != IOT_WAIT_IO)
		t->spin_armed = 0;
}

/* What io_stat needs from the tracee's memory for a successful call: the
 * address and length to read (the first 4 bytes read are the value), or 0. */
enum iot_mem_kind { IOT_MEM_NONE = 0, IOT_MEM_EPOLL_EVENT, IOT_MEM_URING_FLAGS, IOT_MEM_IOCTL_INT };

IOT_INLINE int iot_mem_wanted(__u32 nr, const __u64 args[6], __u64 *addr, __u32 *len)
{
	switch (nr) {
	case IOT_NR_epoll_ctl: {
		int op = (int)(__s32)args[1];

		if (op != IOT_EPOLL_CTL_ADD && op != IOT_EPOLL_CTL_MOD)
			return IOT_MEM_NONE;
		*addr = args[3];
		*len = IOT_EPOLL_EVENT_SIZE;
		return IOT_MEM_EPOLL_EVENT;
	}
	case IOT_NR_io_uring_setup:
		/* A pointer that wraps around is no pointer: addr 0 fails the read. */
		*addr = args[1] <= ~0ull - IOT_URING_PARAMS_FLAGS_OFF ? args[1] + IOT_URING_PARAMS_FLAGS_OFF : 0;
		*len = 4;
		return IOT_MEM_URING_FLAGS;
	case IOT_NR_ioctl: {
		__u32 cmd = (__u32)args[1];

		if (cmd != IOT_FIONBIO && cmd != IOT_FIOASYNC)
			return IOT_MEM_NONE;
		*addr = args[2];
		*len = 4;
		return IOT_MEM_IOCTL_INT;
	}
	default:
		return IOT_MEM_NONE;
	}
}

/* Whether an mmap's arguments make it a candidate data path: shared, not
 * anonymous, not executable, with a descriptor. The caller then checks that
 * the descriptor is a regular file (not a device, /dev/shm or a memfd). */
IOT_INLINE int iot_mmap_wants_file(const __u64 args[6])
{
	return (__s32)args[4] >= 0 && !(args[3] & IOT_MAP_ANONYMOUS) && (args[3] & IOT_MAP_SHARED) &&
	       !(args[2] & IOT_PROT_EXEC);
}

/* Whether iot_account_io counts anything for this syscall: the others skip
 * the work of finding the io_stat. */
IOT_INLINE int iot_io_counts(__u32 nr)
{
	switch (nr) {
	case IOT_NR_epoll_ctl:
	case IOT_NR_io_uring_setup:
	case IOT_NR_io_uring_enter:
	case IOT_NR_io_submit:
	case IOT_NR_mmap:
	case IOT_NR_sendto:
	case IOT_NR_sendmsg:
	case IOT_NR_fcntl:
	case IOT_NR_ioctl:
	case IOT_NR_accept4:
	case IOT_NR_socket:
		return 1;
	default:
		return 0;
	}
}

/* The io_stat figures of one successful syscall. mem_ok/mem_value: what
 * iot_mem_wanted asked for and the caller read; mmap_file: for an mmap that
 * iot_mmap_wants_file accepted, whether its fd is a regular data file. */
IOT_INLINE void iot_account_io(struct io_stat *io, __u32 nr, const __u64 args[6], __s64 rval,
			       int mem_ok, __u32 mem_value, int mmap_file)
{
	switch (nr) {
	case IOT_NR_epoll_ctl: {
		int op = (int)(__s32)args[1];

		if (op == IOT_EPOLL_CTL_DEL)
			io->epoll_ctl_del++;
		if (op != IOT_EPOLL_CTL_ADD && op != IOT_EPOLL_CTL_MOD)
			return;
		if (op == IOT_EPOLL_CTL_ADD)
			io->epoll_ctl_add++;
		else
			io->epoll_ctl_mod++;
		if (!mem_ok) {
			io->epoll_ctl_unread++;
			return;
		}
		if (mem_value & IOT_EPOLLET)
			io->epoll_ctl_et++;
		if (mem_value & IOT_EPOLLONESHOT)
			io->epoll_ctl_oneshot++;
		if (mem_value & IOT_EPOLLEXCLUSIVE)
			io->epoll_ctl_exclusive++;
		return;
	}
	case IOT_NR_io_uring_setup:
		io->uring_setups++;
		if (mem_ok) {
			io->uring_setup_flags |= mem_value;
			if (mem_value & IOT_IORING_SETUP_SQPOLL)
				io->uring_sqpoll++;
		}
		return;
	case IOT_NR_io_uring_enter:
		if (rval >= 0)
			io->uring_submitted += (__u64)rval;
		return;
	case IOT_NR_io_submit:
		if (rval >= 0)
			io->aio_submitted += (__u64)rval;
		return;
	case IOT_NR_mmap:
		if (mmap_file && iot_mmap_wants_file(args)) {
			io->mmap_file++;
			io->mmap_file_bytes += args[1];
		}
		return;
	case IOT_NR_sendto:
	case IOT_NR_sendmsg: {
		__u64 flags = args[nr == IOT_NR_sendto ? 3 : 2] & 0xffffffffull; /* unsigned int flags */

		if ((flags & IOT_MSG_ZEROCOPY) && rval >= 0) {
			io->zerocopy_sends++;
			io->zerocopy_bytes += (__u64)rval;
		}
		return;
	}
	case IOT_NR_fcntl: {
		__u32 cmd = (__u32)args[1];

		if (cmd == IOT_F_SETFL) {
			if (args[2] & IOT_O_NONBLOCK)
				io->nonblock_sets++;
			if (args[2] & IOT_O_ASYNC)
				io->async_sets++;
		} else if (cmd == IOT_F_SETOWN || cmd == IOT_F_SETOWN_EX) {
			io->setown++;
		} else if (cmd == IOT_F_SETSIG && (__s32)args[2] != 0) {
			io->setsig++;
		}
		return;
	}
	case IOT_NR_ioctl: {
		__u32 cmd = (__u32)args[1];
		/* The int the call read; one we could not read is counted as set. */
		int on = !mem_ok || mem_value != 0;

		if (on && cmd == IOT_FIONBIO)
			io->nonblock_sets++;
		if (on && cmd == IOT_FIOASYNC)
			io->async_sets++;
		return;
	}
	case IOT_NR_accept4:
		if (args[3] & IOT_O_NONBLOCK)
			io->nonblock_sets++;
		return;
	case IOT_NR_socket:
		if (args[1] & IOT_O_NONBLOCK)
			io->nonblock_sets++;
		return;
	default:
		return;
	}
}

#endif /* IOTRACE_ACCOUNT_H */
