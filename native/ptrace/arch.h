// SPDX-License-Identifier: MIT
// What differs per architecture for the ptrace backend; one .cc per arch.
#ifndef IOTRACE_NATIVE_PTRACE_ARCH_H
#define IOTRACE_NATIVE_PTRACE_ARCH_H

#include <cstdint>

namespace iotrace {

// AUDIT_ARCH_* of the native syscall ABI, the one the catalog numbers.
extern const uint32_t kNativeAuditArch;
// Syscall-number bits that select another ABI on the same arch (x32), 0 if none.
extern const uint32_t kForeignNrMask;

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_PTRACE_ARCH_H
