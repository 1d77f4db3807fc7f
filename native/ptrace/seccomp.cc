// SPDX-License-Identifier: MIT
// The seccomp filter of run mode: only catalogued I/O syscalls stop the tracee.
#include "native/ptrace/seccomp.h"

#include <linux/seccomp.h>
#include <stddef.h>

#include <algorithm>

#include "native/ptrace/arch.h"

namespace iotrace {

std::vector<sock_filter> BuildTraceFilter(std::vector<uint32_t> nrs) {
  std::sort(nrs.begin(), nrs.end());
  nrs.erase(std::unique(nrs.begin(), nrs.end()), nrs.end());

  // Runs of consecutive numbers become one range test: the I/O syscalls
  // cluster (0-23, 40-55, ...), so this is a fraction of one test per number.
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  for (uint32_t nr : nrs) {
    if (!ranges.empty() && ranges.back().second + 1 == nr) ranges.back().second = nr;
    else ranges.emplace_back(nr, nr);
  }

  std::vector<sock_filter> prog;
  auto stmt = [&](uint16_t code, uint32_t k) { prog.push_back(BPF_STMT(code, k)); };
  auto jump = [&](uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    prog.push_back(BPF_JUMP(code, k, jt, jf));
  };
  // Another ABI (ia32 via int 0x80) numbers syscalls differently: let it pass.
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, kNativeAuditArch, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  // Ascending ranges, every jump at most one instruction long so the program
  // never hits classic BPF's 8-bit jump offsets however many ranges there are.
  for (const auto& r : ranges) {
    jump(BPF_JMP | BPF_JGE | BPF_K, r.first, 1, 0);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);  // below this range, so below all later ones
    jump(BPF_JMP | BPF_JGT | BPF_K, r.second, 1, 0);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);  // also x32 numbers (bit 30), above every range
  return prog;
}

}  // namespace iotrace
