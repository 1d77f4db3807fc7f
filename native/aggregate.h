// SPDX-License-Identifier: MIT
// The in-memory aggregation a backend fills per syscall and JS reads per
// snapshot: the structs of probes/iotrace.h plus errno counts, per-fd,
// per-thread and per-process tables, all bounded in size.
#ifndef IOTRACE_NATIVE_AGGREGATE_H
#define IOTRACE_NATIVE_AGGREGATE_H

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "probes/iotrace.h"
#include "probes/.output/syscalls.h"

namespace iotrace {

// Caps that keep memory bounded whatever the tracee does; what does not fit
// is counted, never silently dropped.
constexpr size_t kMaxFdEntries = 65536;
constexpr size_t kMaxThreadEntries = 65536;
constexpr size_t kMaxProcessEntries = 16384;
// Ended threads a snapshot lists one by one, the busiest kept; the others are
// folded into one sum (FoldedThreads) and leave the tables, so that a target
// which keeps creating threads costs no memory per thread it ever had, and
// the eBPF thread map keeps room for new ones. Leaders are never folded: an
// exec by another thread moves into the leader's entry.
constexpr size_t kMaxEndedThreads = 256;

struct FoldedThreads {
  uint64_t threads = 0;
  thread_stat sum{};  // the counting fields only; tgid, tid and cur_* stay 0
  // One thread, or (n > 1) a sum of n threads already made.
  void Add(const thread_stat& t, uint64_t n = 1);
};

// Which of the ended threads to fold: indexes into `threads`, all ended
// non-leaders but the kMaxEndedThreads busiest.
std::vector<size_t> EndedToFold(const std::vector<thread_stat>& threads, const std::vector<uint8_t>& alive);

struct ProcessStat {
  uint32_t pid = 0;
  uint32_t parent_pid = 0;  // 0: the process attached to or started
  uint64_t execs = 0;
  uint8_t exited = 0;
  int32_t exit_code = -1;    // from WEXITSTATUS, -1 if not exited normally
  int32_t exit_signal = 0;   // from WTERMSIG
  uint8_t core_dumped = 0;
};

struct Counters {
  uint64_t clones = 0;          // new threads (PTRACE_EVENT_CLONE)
  uint64_t forks = 0;           // new processes (PTRACE_EVENT_FORK / VFORK)
  uint64_t execs = 0;
  uint64_t thread_exits = 0;
  uint64_t signals = 0;         // signal-delivery-stops, re-injected
  uint64_t group_stops = 0;     // SIGSTOP/SIGTSTP job-control stops seen
  uint64_t unmatched_exits = 0; // syscall exits whose entry was before the attach
  uint64_t foreign_arch = 0;    // syscalls of another ABI (ia32), not counted
  uint64_t unknown_nr = 0;      // numbers beyond the catalog
  uint64_t fd_overflow = 0;     // per-fd updates dropped at kMaxFdEntries
  uint64_t thread_overflow = 0;
  uint64_t process_overflow = 0;
  uint64_t uring_overflow = 0;  // io_uring requests not followed (eBPF: in-flight map full)
};

// What the backend read from the tracee's memory for one syscall's io_stat
// figures (a struct epoll_event, io_uring_params.flags, an ioctl's int), at
// its exit stop and before the aggregate's lock: MemoryWanted says what to
// read, the backend reads it and hands the result to AddSyscall.
struct TraceeRead {
  enum Kind : uint8_t { kNone = 0, kEpollEvent, kUringFlags, kIoctlInt };
  Kind kind = kNone;
  uint64_t addr = 0;    // in the tracee
  uint32_t len = 0;     // bytes to read, at most kMaxLen
  bool ok = false;      // the read succeeded
  uint32_t value = 0;   // the first 4 bytes read: epoll_event.events, the flags, the int
  static constexpr uint32_t kMaxLen = 16;
};

// The read a finished syscall needs (kind kNone: none), from its number,
// arguments and result. Only successful calls need one.
TraceeRead MemoryWanted(uint32_t nr, const uint64_t args[6], int64_t rval, bool is_error);

// A plain copy of everything, taken under the lock and converted to JS
// after it is released.
struct AggregateCopy {
  uint64_t mono_ns = 0;
  std::vector<std::pair<uint32_t, sys_stat>> syscalls;  // nr, stat (calls > 0 only)
  std::vector<std::pair<uint32_t, std::vector<std::pair<uint32_t, uint64_t>>>> errnos;
  std::vector<std::pair<uint64_t, fd_stat>> fds;        // key: tgid << 32 | fd
  std::vector<std::string> fd_links;                    // parallel to fds
  std::vector<thread_stat> threads;
  std::vector<uint8_t> thread_alive;
  std::vector<ProcessStat> processes;
  FoldedThreads folded;
  Counters counters;
  io_stat io{};
  std::vector<std::pair<uint32_t, uring_op_stat>> uring_ops;  // opcode, stat (eBPF only)
  uint32_t tracees = 0;
};

class Aggregate {
 public:
  Aggregate();

  // One finished syscall: everything is added at exit, when the result is known.
  // mem: what MemoryWanted asked for, read by the backend (nullptr: nothing read).
  void AddSyscall(uint32_t tgid, uint32_t tid, uint32_t nr, const uint64_t args[6],
                  int64_t rval, bool is_error, uint64_t latency_ns,
                  const TraceeRead* mem = nullptr);
  // The thread entered a syscall (cur_nr) or left it (nr < 0).
  void SetCurrent(uint32_t tgid, uint32_t tid, int32_t nr, int32_t fd, uint64_t since_ns);
  void ThreadSeen(uint32_t tgid, uint32_t tid);
  void ThreadGone(uint32_t tid);
  void ProcessSeen(uint32_t pid, uint32_t parent_pid);
  void ProcessExit(uint32_t pid, int status);
  void ProcessExec(uint32_t pid);
  void SetTracees(uint32_t n);
  // Whether the descriptor's /proc link is unknown, or stale after a close.
  bool FdNeedsLink(uint32_t tgid, int64_t fd);
  void SetFdLink(uint32_t tgid, int64_t fd, std::string link);
  void Bump(uint64_t Counters::*field, uint64_t n = 1);

  AggregateCopy Copy(uint64_t mono_ns);

 private:
  thread_stat* Thread(uint32_t tgid, uint32_t tid);
  void FoldEnded();
  fd_stat* Fd(uint32_t tgid, int64_t fd);

  std::mutex mu_;
  std::vector<sys_stat> sys_;                      // indexed by nr
  std::vector<uint64_t> errnos_;                   // [nr * IOT_ERRNO_SLOTS + errno]
  std::unordered_map<uint64_t, fd_stat> fds_;
  struct FdLink {
    std::string link;
    bool stale = false;  // closed since it was read: read again at the next use
  };
  std::unordered_map<uint64_t, FdLink> fd_links_;
  std::unordered_map<uint32_t, thread_stat> threads_;
  std::unordered_map<uint32_t, uint8_t> thread_alive_;
  std::unordered_map<uint32_t, ProcessStat> processes_;
  FoldedThreads folded_;
  Counters counters_;
  io_stat io_{};
  uint32_t tracees_ = 0;
};

uint64_t MonoNs();

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_AGGREGATE_H
