// SPDX-License-Identifier: MIT
// The seccomp filter of run mode: only catalogued I/O syscalls stop the tracee.
#ifndef IOTRACE_NATIVE_PTRACE_SECCOMP_H
#define IOTRACE_NATIVE_PTRACE_SECCOMP_H

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace iotrace {

// Builds a classic-BPF program returning SECCOMP_RET_TRACE for the given
// syscall numbers of the native ABI and SECCOMP_RET_ALLOW for everything else.
std::vector<sock_filter> BuildTraceFilter(std::vector<uint32_t> nrs);

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_PTRACE_SECCOMP_H
