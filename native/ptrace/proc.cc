// SPDX-License-Identifier: MIT
// Small readers of /proc used while attaching and when explaining failures.
#include "native/ptrace/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace iotrace {

std::vector<pid_t> ListTasks(pid_t pid) {
  std::vector<pid_t> tids;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR* dir = opendir(path);
  if (!dir) return tids;
  while (struct dirent* e = readdir(dir)) {
    char* end = nullptr;
    long tid = strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && tid > 0) tids.push_back(static_cast<pid_t>(tid));
  }
  closedir(dir);
  return tids;
}

static bool ReadStatus(pid_t pid, char* buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

long StatusField(pid_t pid, const char* field) {
  char buf[4096];
  if (!ReadStatus(pid, buf, sizeof buf)) return -1;
  size_t len = strlen(field);
  for (char* line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : nullptr) {
    if (strncmp(line, field, len) == 0 && line[len] == ':') return strtol(line + len + 1, nullptr, 10);
  }
  return -1;
}

std::string StatusState(pid_t pid) {
  char buf[4096];
  if (!ReadStatus(pid, buf, sizeof buf)) return "";
  const char* s = strstr(buf, "\nState:");
  if (!s) return "";
  s += strlen("\nState:");
  while (*s == ' ' || *s == '\t') s++;
  return std::string(s, 1);
}

std::string FdLink(pid_t pid, int fd) {
  char path[64], link[PATH_MAX];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
  ssize_t n = readlink(path, link, sizeof link);
  return n > 0 ? std::string(link, static_cast<size_t>(n)) : std::string();
}

}  // namespace iotrace
