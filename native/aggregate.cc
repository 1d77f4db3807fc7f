// SPDX-License-Identifier: MIT
// Adds finished syscalls into the aggregation and copies it out for snapshots.
#include "native/aggregate.h"

#include <sys/wait.h>
#include <time.h>

#include <cerrno>

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
                           int64_t rval, bool is_error, uint64_t latency_ns) {
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
  if (d.nfds_arg >= 0) s.watched += args[d.nfds_arg] & 0xffffffffull;  // int nfds

  if (thread_stat* t = Thread(tgid, tid)) {
    t->calls++;
    t->total_ns += latency_ns;
    if (d.in_fd_arg >= 0) t->bytes_in += bytes;
    if (d.out_fd_arg >= 0) t->bytes_out += bytes;
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
  c.tracees = tracees_;
  return c;
}

}  // namespace iotrace
