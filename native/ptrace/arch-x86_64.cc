// SPDX-License-Identifier: MIT
// x86_64 facts for the ptrace backend.
#include <linux/audit.h>

#include "native/ptrace/arch.h"

namespace iotrace {

const uint32_t kNativeAuditArch = AUDIT_ARCH_X86_64;
// x32 syscalls are x86_64 numbers with bit 30 set (arch/x86/include/uapi/asm/unistd.h,
// __X32_SYSCALL_BIT); they would alias the 64-bit table, so they are not counted.
const uint32_t kForeignNrMask = 0x40000000u;

}  // namespace iotrace
