// SPDX-License-Identifier: MIT
// What the addon asks of a backend, whichever it is (ptrace: native/ptrace/,
// eBPF: native/ebpf/): start on a pid or a command, copy the aggregation
// out, report the target's state, stop and leave the target running.
#ifndef IOTRACE_NATIVE_COLLECTOR_H
#define IOTRACE_NATIVE_COLLECTOR_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "native/aggregate.h"

namespace iotrace {

// A failed step, shaped like Node's system errors: errno code, the call, a reason.
struct TraceError {
  int code = 0;          // errno; 0 means no error
  std::string syscall;   // e.g. "ptrace(PTRACE_SEIZE, 4242)"
  std::string reason;    // e.g. "already traced by pid 4100"; may be empty
};

inline TraceError SysError(int code, const std::string& call, const std::string& reason = "") {
  TraceError e;
  e.code = code;
  e.syscall = call;
  e.reason = reason;
  return e;
}

struct TracerOptions {
  // Run mode only: a seccomp filter makes only these numbers stop the tracee.
  bool seccomp = false;
  std::vector<uint32_t> seccomp_nrs;
  // Attach mode: processes that already exist to attach as well (the target's
  // children, e.g. nginx workers), best effort: one that is gone is skipped.
  std::vector<pid_t> extra_pids;
  // --events: also capture each counted syscall as an iot_event.
  bool events = false;
};

// What DrainEvents did besides handing events out.
struct EventDrain {
  uint64_t discarded = 0;  // consumed past `max`: not kept (the caller counts them as dropped)
  uint64_t dropped = 0;    // cumulative: events the ring had no room for
};

struct SpawnSpec {
  std::string path;                 // absolute path, resolved by the caller
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  bool stdout_to_stderr = false;    // keep stdout for iotrace's --json
};

struct TracerStatus {
  bool running = false;        // the tracer thread still traces
  bool target_gone = false;    // every tracee exited
  ProcessStat main;            // the process attached to or started
  uint32_t tracees = 0;
  uint32_t detach_pending = 0; // tracees that did not stop for detach in time
};

class Collector {
 public:
  virtual ~Collector() = default;
  // Stops collecting and leaves every target running. Safe to call twice.
  // Returns false if it gave up waiting (the ptrace detach of a thread).
  virtual bool Stop(int timeout_ms) = 0;
  // A copy of the aggregation; after Stop, the last one.
  virtual AggregateCopy Snapshot() = 0;
  virtual TracerStatus Status() = 0;
  virtual pid_t pid() const = 0;
  // --events: appends up to `max` captured events to *out (oldest first) and
  // empties the ring, counting the rest as discarded. After Stop, what the
  // ring held at the stop. Without --events: nothing.
  virtual EventDrain DrainEvents(std::vector<iot_event>* out, size_t max) = 0;
};

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_COLLECTOR_H
