// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The eBPF backend's probes: the syscalls of the target processes counted
 * into the model of probes/iotrace.h inside the kernel, with the target
 * never stopped. User space (native/ebpf/) reads the maps once per snapshot;
 * nothing is sent per event unless --events asks for a timeline (the
 * `events` ring buffer, drained once per snapshot).
 *
 * Cost on the hot path: one hash lookup by tid decides whether a thread is
 * traced, before anything else, so other processes pay only that. Per-CPU
 * maps where threads share a slot (per syscall, io_stat, counters), atomic
 * adds where descriptors are shared (per fd), plain stores in the thread's
 * own entry (only the thread itself writes it). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "probes/account.h"
#include "probes/iotrace-ebpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* st_dev of /dev/shm in the kernel's encoding (0: none), set before load:
 * files there are shared memory, not a data path mapped from storage. */
const volatile __u32 shm_dev = 0;

/* --events: each counted syscall also goes to the `events` ring buffer. Set
 * before load: without it the verifier prunes the branch, the hot path pays
 * nothing. */
const volatile bool capture_events = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IOT_EBPF_MAX_THREADS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct iot_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IOT_EBPF_MAX_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct iot_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IOT_NR_MAX);
	__type(key, __u32);
	__type(value, struct sys_stat);
} sys_stats SEC(".maps");

/* Key: nr << 8 | errno (errnos past IOT_ERRNO_SLOTS in 0, as the ptrace side does). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, IOT_EBPF_MAX_ERRNO_KEYS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u64);
} errnos SEC(".maps");

/* Key: tgid << 32 | fd. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IOT_EBPF_MAX_FDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct fd_stat);
} fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct io_stat);
} io_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct iot_ebpf_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct iot_folded);
} folded SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IOT_URING_OPS);
	__type(key, __u32);
	__type(value, struct uring_op_stat);
} uring_ops SEC(".maps");

/* Key: the request (struct io_kiocb *), from submit to its last CQE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IOT_EBPF_MAX_URING_INFLIGHT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct iot_uring_req);
} uring_reqs SEC(".maps");

/* The same requests by ring and user_data, for the CQEs posted without a
 * request (a multishot accept's or recv's intermediate ones). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, IOT_EBPF_MAX_URING_INFLIGHT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct iot_uring_key);
	__type(value, __u32);
} uring_by_data SEC(".maps");

/* Per-syscall events (--events), drained by user space once per snapshot. A
 * reservation that fails (the ring is full) is counted in events_dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, IOT_EBPF_EVENTS_BYTES);
} events SEC(".maps");

static __always_inline struct iot_ebpf_counters *counter_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

#define BUMP(field)                                              \
	do {                                                     \
		struct iot_ebpf_counters *c__ = counter_slot();  \
		if (c__)                                         \
			c__->field++;                            \
	} while (0)

static __always_inline struct iot_thread *traced_thread(__u32 tid)
{
	struct iot_thread *t = bpf_map_lookup_elem(&threads, &tid);

	return t && t->alive ? t : NULL;
}

/* The fd's entry, made on first use. Arguments are raw registers: only a
 * real descriptor number (a C int >= 0) gets one. */
static __always_inline struct fd_stat *fd_entry(__u32 tgid, __u64 arg)
{
	__s32 fd = (__s32)arg;
	__u64 key;
	struct fd_stat *f;

	if (fd < 0)
		return NULL;
	key = ((__u64)tgid << 32) | (__u32)fd;
	f = bpf_map_lookup_elem(&fds, &key);
	if (f)
		return f;
	{
		struct fd_stat zero = {};

		bpf_map_update_elem(&fds, &key, &zero, BPF_NOEXIST);
	}
	f = bpf_map_lookup_elem(&fds, &key);
	if (!f)
		BUMP(fd_overflow);
	return f;
}

static __always_inline __u64 arg_at(const struct iot_thread *t, int i)
{
	return i >= 0 && i < 6 ? t->args[i] : 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(iot_sys_enter, struct pt_regs *regs, long id)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct iot_thread *t = traced_thread(tid);

	if (!t)
		return 0;
	if (t->until_exec) {
		if (id != IOT_NR_execve && id != IOT_NR_execveat)
			return 0;
		t->until_exec = 0;
	}
	t->nr = (__u32)id;
	t->args[0] = regs->di;
	t->args[1] = regs->si;
	t->args[2] = regs->dx;
	t->args[3] = regs->r10;
	t->args[4] = regs->r8;
	t->args[5] = regs->r9;
	t->enter_ns = bpf_ktime_get_ns();
	t->in_syscall = 1;
	t->from_fork = 0;
	t->st.cur_nr = (__s32)id;
	t->st.cur_fd = -1;
	if (id >= 0 && id < IOT_NR_MAX) {
		int fd_arg = iot_syscalls[id & (IOT_NR_TABLE - 1)].fd_arg;

		if (fd_arg >= 0)
			t->st.cur_fd = (__s32)arg_at(t, fd_arg);
	}
	t->st.cur_since_ns = t->enter_ns;
	return 0;
}

/* Whether an mmap'ed descriptor is a regular file from storage: not a
 * device, not /dev/shm, not a memfd (the same choice as the ptrace side,
 * which reads the descriptor's /proc link). */
static __always_inline int mmap_is_data_file(__u64 fd_arg)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fd_array = BPF_CORE_READ(fdt, fd);
	__u32 fd = (__u32)fd_arg;
	struct file *file = NULL;
	struct inode *inode;
	char name[6] = {};
	const unsigned char *dname;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fd_array[fd]);
	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if ((BPF_CORE_READ(inode, i_mode) & 0170000) != 0100000)
		return 0;
	if (shm_dev && BPF_CORE_READ(inode, i_sb, s_dev) == shm_dev)
		return 0;
	dname = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	bpf_probe_read_kernel(name, sizeof(name), dname);
	return !(name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' && name[5] == ':');
}

SEC("tp_btf/sys_exit")
int BPF_PROG(iot_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct iot_thread *t = traced_thread(tid);
	/* A copy on the stack, read once. */
	struct iot_syscall_desc desc;
	const struct iot_syscall_desc *d = &desc;
	struct sys_stat *s;
	struct fd_stat *f;
	__u64 latency, bytes;
	__u32 nr, tgid;
	int is_error;

	if (!t || t->until_exec)
		return 0;
	if (!t->in_syscall) {
		/* A new thread returning from the clone that made it, or a call
		 * entered before the attach. */
		if (t->from_fork)
			t->from_fork = 0;
		else
			BUMP(unmatched_exits);
		t->st.cur_nr = -1;
		t->st.cur_fd = -1;
		t->st.cur_since_ns = 0;
		return 0;
	}
	t->in_syscall = 0;
	t->st.cur_nr = -1;
	t->st.cur_fd = -1;
	t->st.cur_since_ns = 0;
	nr = t->nr;
	if (nr >= IOT_NR_MAX) {
		BUMP(unknown_nr);
		return 0;
	}
	latency = bpf_ktime_get_ns() - t->enter_ns;
	desc = iot_syscalls[nr & (IOT_NR_TABLE - 1)];
	s = bpf_map_lookup_elem(&sys_stats, &nr);
	if (!s)
		return 0;
	is_error = iot_is_error(ret);
	bytes = iot_account_sys(s, d, t->args, ret, latency);
	if (is_error) {
		__u64 e = (__u64)-ret;
		__u32 key = nr << 8 | (e < IOT_ERRNO_SLOTS ? (__u32)e : 0);
		__u64 one = 1, *n = bpf_map_lookup_elem(&errnos, &key);

		if (n)
			(*n)++;
		else
			bpf_map_update_elem(&errnos, &key, &one, BPF_NOEXIST);
	}
	iot_account_thread(&t->st, s, d, ret, bytes, latency);
	if (capture_events) {
		struct iot_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

		if (ev) {
			ev->start_ns = t->enter_ns;
			ev->dur_ns = latency;
			ev->pid = t->st.tgid;
			ev->tid = tid;
			ev->nr = (__s32)nr;
			ev->fd = d->fd_arg >= 0 ? (__s32)arg_at(t, d->fd_arg) : -1;
			ev->ret = ret;
			bpf_ringbuf_submit(ev, 0);
		} else {
			BUMP(events_dropped);
		}
	}

	/* One lookup per descriptor: read's fd is its fd_arg and its in_fd_arg. */
	tgid = t->st.tgid;
	f = d->fd_arg >= 0 ? fd_entry(tgid, arg_at(t, d->fd_arg)) : NULL;
	if (f) {
		__sync_fetch_and_add(&f->calls, 1);
		if (is_error)
			__sync_fetch_and_add(&f->errors, 1);
		/* close_range names a range, not one fd: the catalog gives it no fd_arg. */
		else if (d->cls == IOT_CLASS_FD_CLOSE)
			__sync_fetch_and_add(&f->closes, 1);
	}
	if (d->in_fd_arg >= 0 && (bytes || (d->cls == IOT_CLASS_DATA_READ && !is_error && ret > 0))) {
		struct fd_stat *in = d->in_fd_arg == d->fd_arg ? f : fd_entry(tgid, arg_at(t, d->in_fd_arg));

		if (in) {
			if (bytes)
				__sync_fetch_and_add(&in->bytes_in, bytes);
			/* recvmmsg returns messages, not bytes: more than 0 of them is data all the same. */
			if (d->cls == IOT_CLASS_DATA_READ && !is_error && ret > 0)
				__sync_fetch_and_add(&in->reads, 1);
		}
	}
	if (bytes && d->out_fd_arg >= 0) {
		struct fd_stat *out = d->out_fd_arg == d->fd_arg ? f : fd_entry(tgid, arg_at(t, d->out_fd_arg));

		if (out)
			__sync_fetch_and_add(&out->bytes_out, bytes);
	}
	if (is_error || !iot_io_counts(nr))
		return 0;

	{
		__u32 zero = 0, value = 0, len = 0;
		__u64 addr = 0;
		struct io_stat *io = bpf_map_lookup_elem(&io_stats, &zero);
		int kind, mem_ok = 0, mmap_file = 0;

		if (!io)
			return 0;
		kind = iot_mem_wanted(nr, t->args, &addr, &len);
		/* The first 4 bytes are all any of them needs (events, flags, the int). */
		if (kind != IOT_MEM_NONE && addr)
			mem_ok = bpf_probe_read_user(&value, sizeof(value), (const void *)addr) == 0;
		if (nr == IOT_NR_mmap && iot_mmap_wants_file(t->args))
			mmap_file = mmap_is_data_file(t->args[4]);
		iot_account_io(io, nr, t->args, ret, mem_ok, value, mmap_file);
	}
	return 0;
}

static __always_inline void fold_thread(const struct thread_stat *t)
{
	__u32 zero = 0;
	struct iot_folded *f = bpf_map_lookup_elem(&folded, &zero);

	if (!f)
		return;
	f->threads++;
	f->sum.calls += t->calls;
	f->sum.total_ns += t->total_ns;
	f->sum.bytes_in += t->bytes_in;
	f->sum.bytes_out += t->bytes_out;
	for (int k = 0; k < IOT_WAIT_KINDS; k++) {
		f->sum.wait_ns[k] += t->wait_ns[k];
		f->sum.wait_calls[k] += t->wait_calls[k];
	}
	f->sum.eagain += t->eagain;
	f->sum.eagain_spin += t->eagain_spin;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(iot_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptid = BPF_CORE_READ(parent, pid);
	__u32 ctid = BPF_CORE_READ(child, pid);
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct iot_thread n = {}, *old;

	if (!traced_thread(ptid))
		return 0;
	n.st.tgid = ctgid;
	n.st.tid = ctid;
	n.st.cur_nr = -1;
	n.st.cur_fd = -1;
	n.alive = 1;
	n.from_fork = 1;
	old = bpf_map_lookup_elem(&threads, &ctid);
	if (old && !old->alive)
		fold_thread(&old->st);
	if (bpf_map_update_elem(&threads, &ctid, &n, BPF_ANY))
		BUMP(thread_overflow);
	if (ctgid == ptgid) {
		BUMP(clones);
	} else {
		struct iot_proc p = {};

		BUMP(forks);
		p.parent = ptgid;
		if (bpf_map_update_elem(&procs, &ctgid, &p, BPF_ANY))
			BUMP(process_overflow);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(iot_exit, struct task_struct *task)
{
	__u32 tid = BPF_CORE_READ(task, pid);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct iot_thread *t = traced_thread(tid);
	struct iot_proc *p;

	if (!t)
		return 0;
	t->alive = 0;
	t->in_syscall = 0;
	t->st.cur_nr = -1;
	t->st.cur_fd = -1;
	t->st.cur_since_ns = 0;
	BUMP(thread_exits);
	/* The last thread of the group: signal->live is already down to 0, and
	 * exit_code holds the group's wait status. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p) {
		p->status = BPF_CORE_READ(task, exit_code);
		p->exited = 1;
	}
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(iot_exec, struct task_struct *task, pid_t old_pid)
{
	__u32 tid = BPF_CORE_READ(task, pid);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 old = (__u32)old_pid;
	struct iot_thread *from = traced_thread(old);
	struct iot_thread *to;
	struct iot_proc *p;

	if (!from) {
		/* A non-leader's exec has already ended the leader (and this
		 * thread's entry is the one to look at): nothing to do if neither
		 * was traced. */
		return 0;
	}
	BUMP(execs);
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (p)
		p->execs++;
	if (old == tid)
		return 0;
	/* The exec'ing thread now has the leader's id (ptrace(2), "execve(2)
	 * under ptrace"): its call in progress moves to the leader's entry. */
	to = bpf_map_lookup_elem(&threads, &tid);
	if (!to)
		return 0;
	to->nr = from->nr;
	to->enter_ns = from->enter_ns;
	to->in_syscall = from->in_syscall;
	__builtin_memcpy(to->args, from->args, sizeof(to->args));
	to->alive = 1;
	from->alive = 0;
	from->in_syscall = 0;
	return 0;
}

SEC("tp_btf/signal_deliver")
int BPF_PROG(iot_signal, int sig)
{
	if (traced_thread((__u32)bpf_get_current_pid_tgid()))
		BUMP(signals);
	return 0;
}

static __always_inline int traced_process(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct iot_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	return p && !p->exited;
}

/* In the submitter's context: a thread of the target, or its SQPOLL thread
 * (an io thread of the same process that no fork tracepoint announces). */
SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(iot_uring_submit, struct io_kiocb *req)
{
	struct iot_uring_req r = {};
	struct iot_uring_key k = {};
	struct uring_op_stat *st;
	__u64 key = (__u64)req;
	__u32 op;

	if (!traced_process())
		return 0;
	op = BPF_CORE_READ(req, opcode);
	op = op < IOT_URING_OPS ? op : IOT_URING_OPS - 1;
	st = bpf_map_lookup_elem(&uring_ops, &op);
	if (st)
		st->submitted++;
	r.submit_ns = bpf_ktime_get_ns();
	r.opcode = op;
	k.ctx = (__u64)BPF_CORE_READ(req, ctx);
	k.user_data = BPF_CORE_READ(req, cqe.user_data);
	if (bpf_map_update_elem(&uring_reqs, &key, &r, BPF_ANY) ||
	    bpf_map_update_elem(&uring_by_data, &k, &op, BPF_ANY))
		BUMP(uring_overflow);
	return 0;
}

/* Often in another task's context (a softirq, an io-wq worker): the request
 * is recognised by the maps the submit filled, not by who completes it. */
SEC("tp_btf/io_uring_complete")
int BPF_PROG(iot_uring_complete, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	__u64 key = (__u64)req, now = bpf_ktime_get_ns(), latency = 0;
	__s32 res = BPF_CORE_READ(cqe, res);
	__u32 flags = BPF_CORE_READ(cqe, flags);
	struct iot_uring_key k = { .ctx = (__u64)ring, .user_data = BPF_CORE_READ(cqe, user_data) };
	struct iot_uring_req *r = NULL;
	struct uring_op_stat *st;
	__u32 op, *byop;

	if (req) {
		r = bpf_map_lookup_elem(&uring_reqs, &key);
		if (!r)
			return 0;
		op = r->opcode;
		latency = now - r->submit_ns;
	} else {
		byop = bpf_map_lookup_elem(&uring_by_data, &k);
		if (!byop)
			return 0;
		op = *byop;
	}
	/* A zero-copy send's second CQE says its buffer is free again: no I/O of its own. */
	if (flags & IOT_CQE_F_NOTIF)
		goto done;
	op = op < IOT_URING_OPS ? op : IOT_URING_OPS - 1;
	st = bpf_map_lookup_elem(&uring_ops, &op);
	if (!st)
		goto done;
	st->completions++;
	if (res < 0) {
		st->errors++;
		if (res == -IOT_EAGAIN)
			st->eagain++;
	} else if (res > 0 && ((IOT_URING_BYTES_OPS >> op) & 1)) {
		st->bytes += (__u64)res;
	}
	if (r) {
		st->total_ns += latency;
		if (latency > st->max_ns)
			st->max_ns = latency;
		st->lat_log2[iot_log2_bucket(latency) & (IOT_LAT_BUCKETS - 1)]++;
	}
done:
	if (r && (flags & IOT_CQE_F_MORE)) {
		r->submit_ns = now; /* the next CQE's latency runs from this one */
	} else if (r) {
		bpf_map_delete_elem(&uring_reqs, &key);
		bpf_map_delete_elem(&uring_by_data, &k);
	}
	return 0;
}
