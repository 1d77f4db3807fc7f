// SPDX-License-Identifier: MIT
#include "native/child.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace iotrace {

void PrepareChild(const SpawnSpec& spec) {
  // Node ignores SIGPIPE and its threads block most signals; ignored
  // dispositions and the mask survive execve, so reset both.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; s++) sigaction(s, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (spec.stdout_to_stderr) dup2(2, 1);
  // Node opens its stdio close-on-exec; the command must inherit it.
  for (int fd = 0; fd <= 2; fd++) fcntl(fd, F_SETFD, 0);
}

void ExecOrReport(const SpawnSpec& spec, char* const argv[], char* const envp[], int err_fd) {
  execve(spec.path.c_str(), argv, envp);
  int e = errno;
  ssize_t ignored = write(err_fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

}  // namespace iotrace
