// SPDX-License-Identifier: MIT
// Small readers of /proc used while attaching and when explaining failures.
#ifndef IOTRACE_NATIVE_PTRACE_PROC_H
#define IOTRACE_NATIVE_PTRACE_PROC_H

#include <sys/types.h>

#include <string>
#include <vector>

namespace iotrace {

// Thread ids in /proc/<pid>/task; empty if the process is gone.
std::vector<pid_t> ListTasks(pid_t pid);
// A numeric field of /proc/<pid>/status ("TracerPid", "Tgid", "PPid"); -1 if absent.
long StatusField(pid_t pid, const char* field);
// The one-letter state of /proc/<pid>/status ("R", "S", "T", "t", "Z", ...); "" if gone.
std::string StatusState(pid_t pid);
// Where /proc/<pid>/fd/<fd> points, whole (the kernel's readlink gives at most
// PATH_MAX - 1 bytes), as the kernel spells it: a file name may hold any byte
// but '/' and NUL, newlines and invalid UTF-8 included. "" if not open.
std::string FdLink(pid_t pid, int fd);

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_PTRACE_PROC_H
