// SPDX-License-Identifier: MIT
// The eBPF backend: loads probes/iotrace.bpf.c (embedded as a libbpf
// skeleton), tells it which processes to follow, and reads its maps into the
// same AggregateCopy the ptrace backend fills. The target is never stopped.
#ifndef IOTRACE_NATIVE_EBPF_EBPF_TRACER_H
#define IOTRACE_NATIVE_EBPF_EBPF_TRACER_H

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "native/collector.h"

struct iotrace_bpf;
struct ring_buffer;

namespace iotrace {

// Where ring_buffer__consume's callback puts the events of one drain.
struct EventSink {
  std::vector<iot_event>* out = nullptr;
  size_t max = 0;           // out's size not to go past
  uint64_t discarded = 0;
};

class EbpfTracer : public Collector {
 public:
  static std::unique_ptr<EbpfTracer> Attach(pid_t pid, const TracerOptions& opts, TraceError* err);
  static std::unique_ptr<EbpfTracer> Spawn(const SpawnSpec& spec, const TracerOptions& opts, TraceError* err);
  ~EbpfTracer() override;

  bool Stop(int timeout_ms) override;
  AggregateCopy Snapshot() override;
  TracerStatus Status() override;
  pid_t pid() const override { return pid_; }
  EventDrain DrainEvents(std::vector<iot_event>* out, size_t max) override;

 private:
  EbpfTracer() = default;
  TraceError Load(bool events);
  uint64_t EventsDropped();
  TraceError Follow(pid_t pid, pid_t parent, bool required);
  AggregateCopy Read();
  TracerStatus StatusLocked();
  void Reap();

  iotrace_bpf* skel_ = nullptr;
  ring_buffer* events_ = nullptr;     // --events: the probes' `events` ring buffer
  EventSink sink_;                    // its callback's context, set per drain
  // After Stop: what the ring held at the stop, and its drop count then.
  std::vector<iot_event> events_left_;
  uint64_t events_dropped_left_ = 0;
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
  FoldedThreads folded_;  // ended threads taken out of the threads map
};

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_EBPF_EBPF_TRACER_H
