// SPDX-License-Identifier: MIT
// The eBPF backend: loads probes/iotrace.bpf.c (embedded as a libbpf
// skeleton), tells it which processes to follow, and reads its maps into the
// same AggregateCopy the ptrace backend fills. The target is never stopped.
#ifndef IOTRACE_NATIVE_EBPF_EBPF_TRACER_H
#define IOTRACE_NATIVE_EBPF_EBPF_TRACER_H

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "native/collector.h"

struct iotrace_bpf;

namespace iotrace {

class EbpfTracer : public Collector {
 public:
  static std::unique_ptr<EbpfTracer> Attach(pid_t pid, const TracerOptions& opts, TraceError* err);
  static std::unique_ptr<EbpfTracer> Spawn(const SpawnSpec& spec, const TracerOptions& opts, TraceError* err);
  ~EbpfTracer() override;

  bool Stop(int timeout_ms) override;
  AggregateCopy Snapshot() override;
  TracerStatus Status() override;
  pid_t pid() const override { return pid_; }

 private:
  EbpfTracer() = default;
  TraceError Load();
  TraceError Follow(pid_t pid, pid_t parent, bool required);
  AggregateCopy Read();
  TracerStatus StatusLocked();
  void Reap();

  iotrace_bpf* skel_ = nullptr;
  pid_t pid_ = 0;
  bool spawned_ = false;     // our child: reaped by Status()
  bool reaped_ = false;
  int reaped_status_ = 0;
  int ncpu_ = 1;
  std::mutex mu_;            // Stop against Snapshot/Status from another thread
  bool stopped_ = false;
  AggregateCopy last_;       // the final copy, taken before the probes are unloaded
  TracerStatus last_status_;
  struct Link {
    std::string link;
    uint64_t closes = 0;     // fd_stat.closes when it was read: a close since makes it stale
  };
  std::unordered_map<uint64_t, Link> links_;  // key: tgid << 32 | fd
};

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_EBPF_EBPF_TRACER_H
