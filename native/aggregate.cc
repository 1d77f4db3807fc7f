// SPDX-License-Identifier: MIT
// Adds finished syscalls into the aggregation and copies it out for snapshots.
#include "native/aggregate.h"

#include "probes/account.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace iotrace {

uint64_t MonoNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
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
// Every class of the catalog is mapped (or not) by iot_wait_kind: a new one must be looked at.
static_assert(IOT_CLASS__COUNT == 22, "a class was added to probes/syscalls.tbl: map it in iot_wait_kind (probes/account.h)");
// The argument values probes/account.h compares against, which the probes cannot take from libc.
static_assert(IOT_EPOLL_CTL_ADD == EPOLL_CTL_ADD && IOT_EPOLL_CTL_DEL == EPOLL_CTL_DEL && IOT_EPOLL_CTL_MOD == EPOLL_CTL_MOD, "EPOLL_CTL_*");
static_assert(IOT_MAP_SHARED == MAP_SHARED && IOT_MAP_ANONYMOUS == MAP_ANONYMOUS && IOT_PROT_EXEC == PROT_EXEC, "mmap flags");
static_assert(IOT_F_SETFL == F_SETFL && IOT_F_SETOWN == F_SETOWN && IOT_F_SETSIG == F_SETSIG && IOT_F_SETOWN_EX == F_SETOWN_EX, "fcntl cmds");
static_assert(IOT_FIONBIO == FIONBIO && IOT_FIOASYNC == FIOASYNC, "ioctl cmds");
static_assert(IOT_EAGAIN == EAGAIN, "EAGAIN");
static_assert(IOT_EPOLL_EVENT_SIZE == sizeof(struct epoll_event), "epoll_event size");
static_assert(IOT_URING_PARAMS_FLAGS_OFF == offsetof(struct io_uring_params, flags), "io_uring_params.flags");
static_assert(SYS_epoll_ctl == IOT_NR_epoll_ctl && SYS_mmap == IOT_NR_mmap && SYS_ioctl == IOT_NR_ioctl, "catalog numbers");

TraceeRead MemoryWanted(uint32_t nr, const uint64_t args[6], int64_t rval, bool is_error) {
  TraceeRead r;
  (void)rval;
  if (is_error) return r;
  __u64 addr = 0;
  __u32 len = 0;
  switch (iot_mem_wanted(nr, reinterpret_cast<const __u64*>(args), &addr, &len)) {
    case IOT_MEM_EPOLL_EVENT: r.kind = TraceeRead::kEpollEvent; break;
    case IOT_MEM_URING_FLAGS: r.kind = TraceeRead::kUringFlags; break;
    case IOT_MEM_IOCTL_INT: r.kind = TraceeRead::kIoctlInt; break;
    default: return r;
  }
  r.addr = addr;
  r.len = len;
  return r;
}

void FoldedThreads::Add(const thread_stat& t, uint64_t n) {
  threads += n;
  sum.calls += t.calls;
  sum.total_ns += t.total_ns;
  sum.bytes_in += t.bytes_in;
  sum.bytes_out += t.bytes_out;
  for (int k = 0; k < IOT_WAIT_KINDS; k++) {
    sum.wait_ns[k] += t.wait_ns[k];
    sum.wait_calls[k] += t.wait_calls[k];
  }
  sum.eagain += t.eagain;
  sum.eagain_spin += t.eagain_spin;
}

std::vector<size_t> EndedToFold(const std::vector<thread_stat>& threads, const std::vector<uint8_t>& alive) {
  std::vector<size_t> ended;
  for (size_t i = 0; i < threads.size(); i++)
    if (!alive[i] && threads[i].tid != threads[i].tgid) ended.push_back(i);
  if (ended.size() <= kMaxEndedThreads) return {};
  std::sort(ended.begin(), ended.end(), [&](size_t a, size_t b) {
    return threads[a].calls > threads[b].calls || (threads[a].calls == threads[b].calls && threads[a].tid < threads[b].tid);
  });
  return std::vector<size_t>(ended.begin() + kMaxEndedThreads, ended.end());
}

Aggregate::Aggregate()
    : sys_(IOT_NR_MAX), errnos_(static_cast<size_t>(IOT_NR_MAX) * IOT_ERRNO_SLOTS) {}

thread_stat* Aggregate::Thread(uint32_t tgid, uint32_t tid) {
  auto it = threads_.find(tid);
  if (it != threads_.end()) {
    if (thread_alive_[tid]) return &it->second;
    // An ended thread's tid again: pid numbers wrapped, this is a new thread.
    folded_.Add(it->second);
    threads_.erase(it);
  }
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
  const __u64* a = reinterpret_cast<const __u64*>(args);
  std::lock_guard<std::mutex> lock(mu_);
  sys_stat& s = sys_[nr];
  const uint64_t bytes = iot_account_sys(&s, &d, a, rval, latency_ns);
  if (is_error) {
    int64_t e = -rval;
    errnos_[static_cast<size_t>(nr) * IOT_ERRNO_SLOTS + (e > 0 && e < IOT_ERRNO_SLOTS ? e : 0)]++;
  }
  if (thread_stat* t = Thread(tgid, tid)) {
    iot_account_thread(t, &s, &d, rval, bytes, latency_ns);
    t->cur_nr = -1;
    t->cur_fd = -1;
    t->cur_since_ns = 0;
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
  if (is_error) return;
  bool mmap_file = false;
  if (nr == SYS_mmap && iot_mmap_wants_file(a)) {
    // Regular files only: /dev, /dev/shm and memfd segments are no data path.
    auto l = fd_links_.find((static_cast<uint64_t>(tgid) << 32) | static_cast<uint32_t>(args[4]));
    const std::string* link = l != fd_links_.end() ? &l->second.link : nullptr;
    mmap_file = link && link->rfind('/', 0) == 0 && link->rfind("/dev/", 0) != 0 && link->rfind("/memfd:", 0) != 0;
  }
  const bool mem_ok = mem && mem->ok && mem->kind != TraceeRead::kNone;
  iot_account_io(&io_, nr, a, rval, mem_ok, mem_ok ? mem->value : 0, mmap_file);
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

// Once per snapshot, under the lock: the table holds at most one
// snapshot interval's ended threads beyond kMaxEndedThreads.
void Aggregate::FoldEnded() {
  std::vector<thread_stat> threads;
  std::vector<uint8_t> alive;
  threads.reserve(threads_.size());
  for (const auto& kv : threads_) {
    threads.push_back(kv.second);
    alive.push_back(thread_alive_[kv.first]);
  }
  for (size_t i : EndedToFold(threads, alive)) {
    folded_.Add(threads[i]);
    threads_.erase(threads[i].tid);
    thread_alive_.erase(threads[i].tid);
  }
}

AggregateCopy Aggregate::Copy(uint64_t mono_ns) {
  AggregateCopy c;
  c.mono_ns = mono_ns;
  std::lock_guard<std::mutex> lock(mu_);
  FoldEnded();
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
  c.folded = folded_;
  c.counters = counters_;
  c.io = io_;
  c.tracees = tracees_;
  return c;
}

}  // namespace iotrace
