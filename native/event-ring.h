// SPDX-License-Identifier: MIT
// The ptrace backend's bounded event ring (--events): the tracer thread
// pushes one iot_event per counted syscall, JS drains it once per snapshot.
// Full: the new event is dropped and counted (the oldest are kept, so that a
// drain hands out a contiguous stretch of the timeline), never blocking the
// tracer. Its own mutex: a drain never holds up the aggregate.
#ifndef IOTRACE_NATIVE_EVENT_RING_H
#define IOTRACE_NATIVE_EVENT_RING_H

#include <cstdint>
#include <mutex>
#include <vector>

#include "native/collector.h"

namespace iotrace {

class EventRing {
 public:
  // 1 << 18 events of 40 bytes: 10 MiB, allocated only with --events.
  static constexpr size_t kCapacity = size_t{1} << 18;

  void Enable() {
    std::lock_guard<std::mutex> lock(mu_);
    buf_.resize(kCapacity);
  }

  void Push(const iot_event& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (buf_.empty()) return;
    if (count_ == buf_.size()) {
      dropped_++;
      return;
    }
    buf_[(head_ + count_) % buf_.size()] = e;
    count_++;
  }

  EventDrain Drain(std::vector<iot_event>* out, size_t max) {
    std::lock_guard<std::mutex> lock(mu_);
    EventDrain d;
    const size_t keep = count_ < max ? count_ : max;
    out->reserve(out->size() + keep);
    for (size_t i = 0; i < keep; i++) out->push_back(buf_[(head_ + i) % buf_.size()]);
    d.discarded = count_ - keep;
    head_ = buf_.empty() ? 0 : (head_ + count_) % buf_.size();
    count_ = 0;
    d.dropped = dropped_;
    return d;
  }

 private:
  std::mutex mu_;
  std::vector<iot_event> buf_;
  size_t head_ = 0;
  size_t count_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_EVENT_RING_H
