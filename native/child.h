// SPDX-License-Identifier: MIT
// The start of a command iotrace runs, between fork and execve, shared by
// the backends: only async-signal-safe calls (the parent has threads).
#ifndef IOTRACE_NATIVE_CHILD_H
#define IOTRACE_NATIVE_CHILD_H

#include "native/collector.h"

namespace iotrace {

// Undoes what the child inherited from Node and must not pass on: ignored
// signals, the blocked mask, close-on-exec stdio; sends stdout to stderr if
// the spec says so.
void PrepareChild(const SpawnSpec& spec);

// execve(2), and if it fails, its errno written to err_fd (the parent's
// close-on-exec pipe, which closes unread on success) and _exit(127). It
// never returns, but is not declared [[noreturn]]: AddressSanitizer puts a
// __asan_handle_no_return before each call to a noreturn function, and that
// calls sigaltstack(2) in the child after the tracer holds it, a syscall the
// command never made that ptrace --all-syscalls would count (test:sanitize).
void ExecOrReport(const SpawnSpec& spec, char* const argv[], char* const envp[], int err_fd);

}  // namespace iotrace

#endif  // IOTRACE_NATIVE_CHILD_H
