// SPDX-License-Identifier: MIT
// Adds finished syscalls into the aggregation and copies it out for snapshots.
#include "native/aggregate.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>
#include <cstddef>

namespace iotrace {

uint64_t MonoNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

static unsigned Log2Bucket(uint64_t ns) {
  if (ns < 2) return 0;
  unsigned b = 63 - static_cast<unsigned>(__builtin_clzll(ns));
  return b < IOT_LAT_BUCKETS ? b : IOT_LAT_BUCKETS - 1;
}

// The io_stat flag constants of probes/iotrace.h are the kernel's.
static_assert(IOT_EPOLLET == static_cast<uint32_t>(EPOLLET), "EPOLLET");
static_assert(IOT_EPOLLONESHOT == static_cast<uint32_t>(EPOLLONESHOT), "EPOLLONESHOT");
static_assert(IOT_EPOLLEXCLUSIVE == static_cast<uint32_t>(EPOLLEXCLUSIVE), "EPOLLEXCLUSIVE");
static_assert(IOT_IORING_SETUP_SQPOLL == IORING_SETUP_SQPOLL, "IORING_SETUP_SQPOLL");
static_assert(IOT_MSG_ZEROCOPY == MSG_ZEROCOPY, "MSG_ZEROCOPY");
static_assert(IOT_O_NONBLOCK == O_NONBLOCK && IOT_O_NONBLOCK == SOCK_NONBLOCK, "O_NONBLOCK");
static_assert(IOT_O_ASYNC == O_ASYNC, "O_ASYNC");
// x86_64's struct epoll_event is packed: u32 events, u64 data.
static_assert(sizeof(struct epoll_event) == 12 && offsetof(struct epoll_event, events) == 0, "epoll_event");
static_assert(offsetof(struct io_uring_params, flags) == 8, "io_uring_params.flags");
static_assert(sizeof(struct epoll_event) <= TraceeRead::kMaxLen, "kMaxLen");
// Every class of the catalog is mapped (or not) by WaitKindOf: a new one must be looked at.
static_assert(IOT_CLASS__COUNT == 22, "a class was added to probes/syscalls.tbl: map it in WaitKindOf");

// The iot_wait_kind a finished call's time counts under, -1 for none.
static int WaitKindOf(unsigned cls, bool eagain) {
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
      return -1;  // data.mmap, mux.setup, fd.*, proc, -
  }
}

TraceeRead MemoryWanted(uint32_t nr, const uint64_t args[6], int64_t rval, bool is_error) {
  TraceeRead r;
  (void)rval;
  if (is_error) return r;
  switch (nr) {
    case SYS_epoll_ctl: {
      const int op = static_cast<int32_t>(args[1]);
      if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD) return r;
      r.kind = TraceeRead::kEpollEvent;
      r.addr = args[3];
      r.len = sizeof(struct epoll_event);
      return r;
    }
    case SYS_io_uring_setup:
      r.kind = TraceeRead::kUringFlags;
      // A pointer that wraps around is no pointer: addr 0 fails the read.
      r.addr = args[1] <= UINT64_MAX - offsetof(struct io_uring_params, flags)
                   ? args[1] + offsetof(struct io_uring_params, flags) : 0;
      r.len = sizeof(__u32);
      return r;
    case SYS_ioctl: {
      const uint32_t cmd = static_cast<uint32_t>(args[1]);
      if (cmd != FIONBIO && cmd != FIOASYNC) return r;
      r.kind = TraceeRead::kIoctlInt;
      r.addr = args[2];
      r.len = sizeof(int);
      return r;
    }
    default:
      return r;
  }
}

Aggregate::Aggregate()
    : sys_(IOT_NR_MAX), errnos_(static_cast<size_t>(IOT_NR_MAX) * IOT_ERRNO_SLOTS) {}

thread_stat* Aggregate::Thread(uint32_t tgid, uint32_t tid) {
  auto it = threads_.find(tid);
  if (it != threads_.end()) return &it->second;
  if (threads_.size() >= kMaxThreadEntries) {
    counters_.thread_overflow++;
    return nullptr;
  }
  thread_stat t{};
  t.tgid = tgid;
  t.tid = tid;
  t.cur_nr = -1;
  t.cur_fd = -1;
  thread_alive_[tid] = 1;
  return &threads_.emplace(tid, t).first->second;
}

fd_stat* Aggregate::Fd(uint32_t tgid, int64_t fd) {
  // Arguments are raw registers: only a real descriptor number gets an entry.
  if (fd < 0 || fd > INT32_MAX) return nullptr;
  uint64_t key = (static_cast<uint64_t>(tgid) << 32) | static_cast<uint64_t>(fd);
  auto it = fds_.find(key);
  if (it != fds_.end()) return &it->second;
  if (fds_.size() >= kMaxFdEntries) {
    counters_.fd_overflow++;
    return nullptr;
  }
  return &fds_.emplace(key, fd_stat{}).first->second;
}

void Aggregate::AddSyscall(uint32_t tgid, uint32_t tid, uint32_t nr, const uint64_t args[6],
                           int64_t rval, bool is_error, uint64_t latency_ns, const TraceeRead* mem) {
  const iot_syscall_desc& d = iot_syscalls[nr];
  std::lock_guard<std::mutex> lock(mu_);
  sys_stat& s = sys_[nr];
  s.calls++;
  s.total_ns += latency_ns;
  if (latency_ns > s.max_ns) s.max_ns = latency_ns;
  s.lat_log2[Log2Bucket(latency_ns)]++;
  uint64_t bytes = 0;
  if (is_error) {
    s.errors++;
    int64_t e = -rval;
    if (e == EAGAIN) s.eagain++;
    errnos_[static_cast<size_t>(nr) * IOT_ERRNO_SLOTS + (e > 0 && e < IOT_ERRNO_SLOTS ? e : 0)]++;
  } else if (rval > 0) {
    if (d.ret == IOT_RET_BYTES) bytes = static_cast<uint64_t>(rval);
    else if (d.ret == IOT_RET_COUNT) s.ready += static_cast<uint64_t>(rval);
  }
  s.bytes += bytes;
  if (d.nfds_arg >= 0) {
    const uint64_t nfds = args[d.nfds_arg] & 0xffffffffull;  // int nfds
    s.watched += nfds;
    if (nfds > s.max_watched) s.max_watched = nfds;
  }
  const bool eagain = is_error && -rval == EAGAIN;
  const int kind = WaitKindOf(d.cls, eagain);

  if (thread_stat* t = Thread(tgid, tid)) {
    t->calls++;
    t->total_ns += latency_ns;
    if (d.in_fd_arg >= 0) t->bytes_in += bytes;
    if (d.out_fd_arg >= 0) t->bytes_out += bytes;
    t->cur_nr = -1;
    t->cur_fd = -1;
    t->cur_since_ns = 0;
    if (kind >= 0) {
      t->wait_ns[kind] += latency_ns;
      t->wait_calls[kind]++;
    }
    // Busy polling: an EAGAIN after another one of this thread with no
    // wait, sync or sleep call between. A successful read between does not
    // break the spin; a wait does, even one that itself failed with EAGAIN.
    if (eagain) {
      t->eagain++;
      if (t->spin_armed) {
        t->eagain_spin++;
        s.eagain_spin++;
      }
      t->spin_armed = 1;
    }
    if (kind >= 0 && kind != IOT_WAIT_IO) t->spin_armed = 0;
  }
  // Descriptor arguments are C ints: the upper half of the register is junk.
  auto fd_of = [&](int8_t arg) { return static_cast<int64_t>(static_cast<int32_t>(args[arg])); };
  if (d.fd_arg >= 0) {
    if (fd_stat* f = Fd(tgid, fd_of(d.fd_arg))) {
      f->calls++;
      if (is_error) f->errors++;
      // close_range names a range, not one fd, so the catalog gives it no fd_arg.
      if (d.cls == IOT_CLASS_FD_CLOSE && !is_error) {
        f->closes++;
        auto l = fd_links_.find((static_cast<uint64_t>(tgid) << 32) | static_cast<uint32_t>(fd_of(d.fd_arg)));
        if (l != fd_links_.end()) l->second.stale = true;
      }
    }
  }
  if (bytes) {
    if (d.in_fd_arg >= 0)
      if (fd_stat* f = Fd(tgid, fd_of(d.in_fd_arg))) f->bytes_in += bytes;
    if (d.out_fd_arg >= 0)
      if (fd_stat* f = Fd(tgid, fd_of(d.out_fd_arg))) f->bytes_out += bytes;
  }
  // recvmmsg returns messages, not bytes: more than 0 of them is data all the same.
  if (d.cls == IOT_CLASS_DATA_READ && !is_error && rval > 0 && d.in_fd_arg >= 0)
    if (fd_stat* f = Fd(tgid, fd_of(d.in_fd_arg))) f->reads++;
  if (!is_error) AddIo(tgid, nr, args, rval, mem);
}

// The io_stat figures of one successful syscall; called under mu_.
void Aggregate::AddIo(uint32_t tgid, uint32_t nr, const uint64_t args[6], int64_t rval, const TraceeRead* mem) {
  io_stat& io = io_;
  auto read_as = [&](TraceeRead::Kind k) { return mem && mem->kind == k && mem->ok; };
  switch (nr) {
    case SYS_epoll_ctl: {
      const int op = static_cast<int32_t>(args[1]);
      if (op == EPOLL_CTL_DEL) io.epoll_ctl_del++;
      if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD) return;
      if (op == EPOLL_CTL_ADD) io.epoll_ctl_add++;
      else io.epoll_ctl_mod++;
      if (!read_as(TraceeRead::kEpollEvent)) {
        io.epoll_ctl_unread++;
        return;
      }
      if (mem->value & IOT_EPOLLET) io.epoll_ctl_et++;
      if (mem->value & IOT_EPOLLONESHOT) io.epoll_ctl_oneshot++;
      if (mem->value & IOT_EPOLLEXCLUSIVE) io.epoll_ctl_exclusive++;
      return;
    }
    case SYS_io_uring_setup:
      io.uring_setups++;
      if (read_as(TraceeRead::kUringFlags)) {
        io.uring_setup_flags |= mem->value;
        if (mem->value & IOT_IORING_SETUP_SQPOLL) io.uring_sqpoll++;
      }
      return;
    case SYS_io_uring_enter:
      if (rval >= 0) io.uring_submitted += static_cast<uint64_t>(rval);
      return;
    case SYS_io_submit:
      if (rval >= 0) io.aio_submitted += static_cast<uint64_t>(rval);
      return;
    case SYS_mmap: {
      // Shared mappings of regular files only: the loader's private
      // mappings of libraries, io_uring's rings (anon inodes), /dev/shm and
      // memfd segments are no data path.
      const int fd = static_cast<int32_t>(args[4]);
      if (fd < 0 || (args[3] & MAP_ANONYMOUS) || !(args[3] & MAP_SHARED) || (args[2] & PROT_EXEC)) return;
      auto l = fd_links_.find((static_cast<uint64_t>(tgid) << 32) | static_cast<uint32_t>(fd));
      const std::string* link = l != fd_links_.end() ? &l->second.link : nullptr;
      if (link && link->rfind('/', 0) == 0 && link->rfind("/dev/", 0) != 0 && link->rfind("/memfd:", 0) != 0) {
        io.mmap_file++;
        io.mmap_file_bytes += args[1];
      }
      return;
    }
    case SYS_sendto:
    case SYS_sendmsg: {
      const uint64_t flags = args[nr == SYS_sendto ? 3 : 2] & 0xffffffffull;  // unsigned int flags
      if ((flags & IOT_MSG_ZEROCOPY) && rval >= 0) {
        io.zerocopy_sends++;
        io.zerocopy_bytes += static_cast<uint64_t>(rval);
      }
      return;
    }
    case SYS_fcntl: {
      const uint32_t cmd = static_cast<uint32_t>(args[1]);
      if (cmd == F_SETFL) {
        if (args[2] & IOT_O_NONBLOCK) io.nonblock_sets++;
        if (args[2] & IOT_O_ASYNC) io.async_sets++;
      } else if (cmd == F_SETOWN || cmd == F_SETOWN_EX) {
        io.setown++;
      } else if (cmd == F_SETSIG && static_cast<int32_t>(args[2]) != 0) {
        io.setsig++;
      }
      return;
    }
    case SYS_ioctl: {
      const uint32_t cmd = static_cast<uint32_t>(args[1]);
      if (cmd != FIONBIO && cmd != FIOASYNC) return;
      // The int the call read; one we could not read is counted as set.
      const bool on = !read_as(TraceeRead::kIoctlInt) || mem->value != 0;
      if (on && cmd == FIONBIO) io.nonblock_sets++;
      if (on && cmd == FIOASYNC) io.async_sets++;
      return;
    }
    case SYS_accept4:
      if (args[3] & SOCK_NONBLOCK) io.nonblock_sets++;
      return;
    case SYS_socket:
      if (args[1] & SOCK_NONBLOCK) io.nonblock_sets++;
      return;
    default:
      return;
  }
}

void Aggregate::SetCurrent(uint32_t tgid, uint32_t tid, int32_t nr, int32_t fd, uint64_t since_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_stat* t = Thread(tgid, tid)) {
    t->cur_nr = nr;
    t->cur_fd = fd;
    t->cur_since_ns = since_ns;
  }
}

void Aggregate::ThreadSeen(uint32_t tgid, uint32_t tid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_stat* t = Thread(tgid, tid)) t->tgid = tgid;
  thread_alive_[tid] = 1;
}

void Aggregate::ThreadGone(uint32_t tid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = threads_.find(tid);
  if (it != threads_.end()) {
    it->second.cur_nr = -1;
    it->second.cur_fd = -1;
    thread_alive_[tid] = 0;
  }
  counters_.thread_exits++;
}

void Aggregate::ProcessSeen(uint32_t pid, uint32_t parent_pid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (processes_.count(pid)) return;
  if (processes_.size() >= kMaxProcessEntries) {
    counters_.process_overflow++;
    return;
  }
  ProcessStat p;
  p.pid = pid;
  p.parent_pid = parent_pid;
  processes_.emplace(pid, p);
}

void Aggregate::ProcessExit(uint32_t pid, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  ProcessStat& p = it->second;
  p.exited = 1;
  if (WIFEXITED(status)) p.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    p.exit_signal = WTERMSIG(status);
    p.core_dumped = WCOREDUMP(status) ? 1 : 0;
  }
}

void Aggregate::ProcessExec(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.execs++;
  auto it = processes_.find(pid);
  if (it != processes_.end()) it->second.execs++;
}

void Aggregate::SetTracees(uint32_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  tracees_ = n;
}

static uint64_t FdKey(uint32_t tgid, int64_t fd) {
  return (static_cast<uint64_t>(tgid) << 32) | static_cast<uint64_t>(fd);
}

bool Aggregate::FdNeedsLink(uint32_t tgid, int64_t fd) {
  if (fd < 0 || fd > INT32_MAX) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = fd_links_.find(FdKey(tgid, fd));
  if (it != fd_links_.end()) return it->second.stale;
  return fd_links_.size() < kMaxFdEntries;
}

void Aggregate::SetFdLink(uint32_t tgid, int64_t fd, std::string link) {
  std::lock_guard<std::mutex> lock(mu_);
  FdLink& l = fd_links_[FdKey(tgid, fd)];
  l.link = std::move(link);
  l.stale = false;
}

void Aggregate::Bump(uint64_t Counters::*field, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.*field += n;
}

AggregateCopy Aggregate::Copy(uint64_t mono_ns) {
  AggregateCopy c;
  c.mono_ns = mono_ns;
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t nr = 0; nr < IOT_NR_MAX; nr++) {
    const sys_stat& s = sys_[nr];
    if (!s.calls) continue;
    c.syscalls.emplace_back(nr, s);
    if (!s.errors) continue;
    std::vector<std::pair<uint32_t, uint64_t>> e;
    for (uint32_t i = 0; i < IOT_ERRNO_SLOTS; i++) {
      uint64_t n = errnos_[static_cast<size_t>(nr) * IOT_ERRNO_SLOTS + i];
      if (n) e.emplace_back(i, n);
    }
    c.errnos.emplace_back(nr, std::move(e));
  }
  c.fds.assign(fds_.begin(), fds_.end());
  c.fd_links.reserve(c.fds.size());
  for (const auto& kv : c.fds) {
    auto it = fd_links_.find(kv.first);
    c.fd_links.push_back(it != fd_links_.end() ? it->second.link : std::string());
  }
  c.threads.reserve(threads_.size());
  for (const auto& kv : threads_) {
    c.threads.push_back(kv.second);
    c.thread_alive.push_back(thread_alive_[kv.first]);
  }
  for (const auto& kv : processes_) c.processes.push_back(kv.second);
  c.counters = counters_;
  c.io = io_;
  c.tracees = tracees_;
  return c;
}

}  // namespace iotrace
