// SPDX-License-Identifier: MIT
// The ptrace backend: one tracer thread that owns every ptrace call.
#ifndef IOTRACE_NATIVE_PTRACE_TRACER_H
#define IOTRACE_NATIVE_PTRACE_TRACER_H

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "native/collector.h"
#include "native/event-ring.h"

namespace iotrace {

class Tracer : public Collector {
 public:
  // Each starts the tracer thread and returns once it has attached to every
  // thread (or the child is started), or failed; on failure err->code != 0.
  static std::unique_ptr<Tracer> Attach(pid_t pid, const TracerOptions& opts, TraceError* err);
  static std::unique_ptr<Tracer> Spawn(const SpawnSpec& spec, const TracerOptions& opts,
                                       TraceError* err);
  ~Tracer() override;

  // Detaches from every tracee and ends the thread. Safe to call twice and
  // from any thread but the tracer's. Returns false if it gave up waiting.
  bool Stop(int timeout_ms) override;
  AggregateCopy Snapshot() override { return agg_.Copy(MonoNs()); }
  TracerStatus Status() override;
  pid_t pid() const override { return pid_; }
  EventDrain DrainEvents(std::vector<iot_event>* out, size_t max) override { return events_.Drain(out, max); }

 private:
  struct Tracee {
    pid_t tid = 0;
    pid_t tgid = 0;
    bool in_syscall = false;   // between an entry (or seccomp) stop and the exit stop
    uint32_t nr = 0;
    uint64_t args[6] = {};
    uint64_t enter_ns = 0;
  };

  Tracer(pid_t pid, const TracerOptions& opts) : pid_(pid), opts_(opts) {
    if (opts.events) events_.Enable();
  }
  void Start(const SpawnSpec* spec, TraceError* err);
  void PublishStart(const TraceError& err);
  void Main(const SpawnSpec* spec);
  TraceError AttachAll();
  TraceError SeizeProcess(pid_t pid, bool required);
  TraceError SpawnChild(const SpawnSpec& spec);
  void Loop();
  void HandleStop(pid_t tid, int status, uint64_t now);
  void HandleSyscallStop(Tracee& t, uint64_t now);
  void HandleNewChild(Tracee& parent, int event);
  void NoteFdLink(pid_t tgid, int64_t fd);
  void HandleExec(pid_t tid);
  void Gone(pid_t tid, int status);
  Tracee& Add(pid_t tid, pid_t tgid);
  void Resume(const Tracee& t, int sig);
  void DetachAll();
  unsigned long SeizeOptions() const;

  pid_t pid_;
  TracerOptions opts_;
  // Run mode: the child's own SIGSTOP and our SIGCONT are start-up, not the
  // target's signals; the first of each is not counted.
  bool startup_stop_ = false;
  bool startup_cont_ = false;
  // Run mode: the start is reported once the child's execve succeeded (its
  // PTRACE_EVENT_EXEC) or failed (the errno it writes to this close-on-exec pipe).
  bool awaiting_exec_ = false;
  int exec_err_fd_ = -1;
  std::string exec_path_;
  Aggregate agg_;
  EventRing events_;  // --events: pushed by the tracer thread, drained by JS
  std::unordered_map<pid_t, Tracee> tracees_;  // touched by the tracer thread only
  // New tasks whose first stop came before their creator's clone/fork event,
  // with the process whose exit voids the wait (the tgid of a thread, the
  // parent of a process). That event must not add the task again: by then it
  // may have exited, and a second Add would count it twice (a new thread
  // entry, an ended-but-never-gone tracee).
  std::unordered_map<pid_t, pid_t> before_event_;

  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  std::mutex mu_;                   // guards the fields below
  std::condition_variable cv_;
  bool started_ = false;
  TraceError start_error_;
  bool finished_ = false;
  bool target_gone_ = false;
  uint32_t detach_pending_ = 0;
  ProcessStat main_;
};

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_PTRACE_TRACER_H
