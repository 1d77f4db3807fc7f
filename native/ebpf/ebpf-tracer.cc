// SPDX-License-Identifier: MIT
// Loading the probes, following the target's processes, and reading the
// maps into an AggregateCopy once per snapshot (never per event).
#include "native/ebpf/ebpf-tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "native/child.h"
#include "native/ptrace/proc.h"
#include "probes/.output/iotrace.skel.h"
#include "probes/iotrace-ebpf.h"

namespace iotrace {
namespace {

// libbpf's own messages: kept (the last lines explain a failed load), not
// printed, since iotrace's stderr is the user's.
std::mutex g_log_mu;
std::string g_log;

int KeepLibbpfLog(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char buf[512];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log += buf;
  if (g_log.size() > 4096) g_log.erase(0, g_log.size() - 4096);
  return n;
}

std::string LastLogLine() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::string s = g_log;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// Why a load failed, in the words a user can act on.
std::string Explain(int code) {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
  if (code == EPERM) {
    return geteuid() == 0 ? "CAP_BPF or CAP_PERFMON missing (a container or LSM denies bpf())"
                          : "CAP_BPF and CAP_PERFMON missing (not root)";
  }
  std::string last = LastLogLine();
  return last.empty() ? std::string(strerror(code)) : last;
}

// /dev/shm's device in the kernel's dev_t encoding (MAJOR << 20 | MINOR).
uint32_t ShmDev() {
  struct stat st;
  if (stat("/dev/shm", &st) != 0) return 0;
  return (static_cast<uint32_t>(major(st.st_dev)) << 20) | static_cast<uint32_t>(minor(st.st_dev));
}

// The call a thread is blocked in, from /proc/<pid>/task/<tid>/syscall
// ("nr arg1 … arg6 sp pc"); nr -1 when it is running in user space.
void ReadCurrentSyscall(pid_t pid, pid_t tid, int32_t* nr, int32_t* fd) {
  *nr = -1;
  *fd = -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  if (!(in >> first) || first == "running") return;
  long n = strtol(first.c_str(), nullptr, 10);
  if (n < 0 || n >= IOT_NR_MAX) return;
  uint64_t args[6] = {};
  for (auto& a : args) {
    std::string hex;
    if (!(in >> hex)) break;
    a = strtoull(hex.c_str(), nullptr, 16);
  }
  *nr = static_cast<int32_t>(n);
  const int8_t fa = iot_syscalls[n].fd_arg;
  if (fa >= 0) *fd = static_cast<int32_t>(args[fa]);
}

template <typename T>
bool LookupPercpu(int map_fd, const void* key, int ncpu, std::vector<T>* out) {
  out->resize(static_cast<size_t>(ncpu));
  return bpf_map_lookup_elem(map_fd, key, out->data()) == 0;
}

// Every key of a hash map (it may change while it is walked: a key deleted
// meanwhile ends the walk early, which costs a snapshot some entries at most).
template <typename K>
std::vector<K> Keys(int map_fd) {
  std::vector<K> keys;
  K key{};
  K next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(map_fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}

void SetExit(ProcessStat* p, int status) {
  p->exited = 1;
  if (WIFEXITED(status)) p->exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    p->exit_signal = WTERMSIG(status);
    p->core_dumped = WCOREDUMP(status) ? 1 : 0;
  }
}

void SumSys(sys_stat* into, const sys_stat& s) {
  into->calls += s.calls;
  into->errors += s.errors;
  into->eagain += s.eagain;
  into->total_ns += s.total_ns;
  into->max_ns = std::max(into->max_ns, s.max_ns);
  into->bytes += s.bytes;
  into->ready += s.ready;
  into->watched += s.watched;
  into->max_watched = std::max(into->max_watched, s.max_watched);
  into->eagain_spin += s.eagain_spin;
  for (int b = 0; b < IOT_LAT_BUCKETS; b++) into->lat_log2[b] += s.lat_log2[b];
}

void SumUring(uring_op_stat* into, const uring_op_stat& s) {
  into->submitted += s.submitted;
  into->completions += s.completions;
  into->errors += s.errors;
  into->eagain += s.eagain;
  into->bytes += s.bytes;
  into->total_ns += s.total_ns;
  into->max_ns = std::max(into->max_ns, s.max_ns);
  for (int b = 0; b < IOT_LAT_BUCKETS; b++) into->lat_log2[b] += s.lat_log2[b];
}

// Adds a per-CPU copy of a struct made only of __u64 counters into the total;
// the field at or_index (if any) is OR'ed instead (io_stat's setup flags).
template <typename T>
void SumU64s(T* into, const T& s, size_t or_index = SIZE_MAX) {
  static_assert(sizeof(T) % sizeof(__u64) == 0, "a struct of __u64 only");
  const __u64* from = reinterpret_cast<const __u64*>(&s);
  __u64* to = reinterpret_cast<__u64*>(into);
  for (size_t i = 0; i < sizeof(T) / sizeof(__u64); i++) to[i] = i == or_index ? (to[i] | from[i]) : to[i] + from[i];
}

void SumIo(io_stat* into, const io_stat& s) { SumU64s(into, s, offsetof(io_stat, uring_setup_flags) / sizeof(__u64)); }
static_assert(sizeof(iot_event) == 40, "iot_event: the record the probes reserve");

// ring_buffer__consume's callback: keeps up to sink->max events, counts the rest.
int TakeEvent(void* ctx, void* data, size_t size) {
  EventSink* sink = static_cast<EventSink*>(ctx);
  if (size < sizeof(iot_event)) return 0;
  if (sink->out->size() < sink->max) sink->out->push_back(*static_cast<const iot_event*>(data));
  else sink->discarded++;
  return 0;
}

}  // namespace

TraceError EbpfTracer::Load(bool events) {
  libbpf_set_print(KeepLibbpfLog);
  ncpu_ = libbpf_num_possible_cpus();
  if (ncpu_ <= 0) return SysError(-ncpu_, "libbpf_num_possible_cpus()");
  skel_ = iotrace_bpf__open();
  if (!skel_) return SysError(errno, "bpf_object__open(iotrace.bpf.o)", Explain(errno));
  skel_->rodata->shm_dev = ShmDev();
  skel_->rodata->capture_events = events;
  // Without --events the ring buffer is never written: one page, not 8 MiB
  // of locked kernel memory (a ring buffer's size is a power-of-2 multiple
  // of the page size).
  if (!events) bpf_map__set_max_entries(skel_->maps.events, static_cast<uint32_t>(sysconf(_SC_PAGESIZE)));
  if (int rc = iotrace_bpf__load(skel_)) return SysError(-rc, "bpf(BPF_PROG_LOAD)", Explain(-rc));
  if (events) {
    events_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), TakeEvent, &sink_, nullptr);
    if (!events_) return SysError(errno, "ring_buffer__new(events)");
  }
  return TraceError();
}

// The ring buffer's drops so far: reservations that failed, on every CPU.
uint64_t EbpfTracer::EventsDropped() {
  const uint32_t zero = 0;
  std::vector<iot_ebpf_counters> cnt;
  uint64_t n = 0;
  if (LookupPercpu(bpf_map__fd(skel_->maps.counters), &zero, ncpu_, &cnt))
    for (const auto& v : cnt) n += v.events_dropped;
  return n;
}

EventDrain EbpfTracer::DrainEvents(std::vector<iot_event>* out, size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  EventDrain d;
  if (stopped_ || !skel_) {
    const size_t keep = std::min(max, events_left_.size());
    out->insert(out->end(), events_left_.begin(), events_left_.begin() + static_cast<long>(keep));
    d.discarded = events_left_.size() - keep;
    events_left_.clear();
    events_left_.shrink_to_fit();
    d.dropped = events_dropped_left_;
    return d;
  }
  if (!events_) return d;
  // The drop count first: an event dropped after it is read is counted by
  // the next drain, never twice.
  d.dropped = EventsDropped();
  sink_.out = out;
  sink_.max = out->size() + max;
  sink_.discarded = 0;
  // Non-blocking: what the ring holds now; the probes go on writing behind.
  ring_buffer__consume(events_);
  d.discarded = sink_.discarded;
  sink_.out = nullptr;
  return d;
}

// Every thread of the process has exited: a zombie whose leader is all that
// /proc lists. (A leader that called pthread_exit is a zombie too, while its
// other threads run on.)
static bool ExitedProcess(pid_t pid) {
  return StatusState(pid) == "Z" && ListTasks(pid).size() <= 1;
}

// A live target thread's entry, in user space (the fork probe makes its own).
static iot_thread NewThread(pid_t tgid, pid_t tid) {
  iot_thread t{};
  t.st.tgid = static_cast<uint32_t>(tgid);
  t.st.tid = static_cast<uint32_t>(tid);
  t.st.cur_nr = -1;
  t.st.cur_fd = -1;
  t.alive = 1;
  return t;
}

// Marks a process and its threads as traced. Threads that are inside a
// syscall now are shown blocked in it since the attach; its exit is counted
// as unmatched, like the ptrace backend's.
TraceError EbpfTracer::Follow(pid_t pid, pid_t parent, bool required) {
  std::vector<pid_t> tasks = ListTasks(pid);
  // A zombie still lists its leader in /proc, but it will make no syscall and
  // its exit came before the probes could see it.
  if (tasks.empty() || ExitedProcess(pid)) {
    if (!required) return TraceError();
    return SysError(ESRCH, "open(/proc/" + std::to_string(pid) + "/task)", "the process exited during attach");
  }
  const uint32_t key = static_cast<uint32_t>(pid);
  iot_proc p{};
  p.parent = static_cast<uint32_t>(parent);
  bpf_map_update_elem(bpf_map__fd(skel_->maps.procs), &key, &p, BPF_NOEXIST);
  const uint64_t now = MonoNs();
  for (pid_t tid : tasks) {
    iot_thread t = NewThread(pid, tid);
    ReadCurrentSyscall(pid, tid, &t.st.cur_nr, &t.st.cur_fd);
    t.st.cur_since_ns = t.st.cur_nr >= 0 ? now : 0;
    const uint32_t tkey = static_cast<uint32_t>(tid);
    // NOEXIST: a thread the fork probe saw first keeps its entry.
    bpf_map_update_elem(bpf_map__fd(skel_->maps.threads), &tkey, &t, BPF_NOEXIST);
  }
  return TraceError();
}

std::unique_ptr<EbpfTracer> EbpfTracer::Attach(pid_t pid, const TracerOptions& opts, TraceError* err) {
  std::unique_ptr<EbpfTracer> t(new EbpfTracer());
  t->pid_ = pid;
  if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) {
    *err = SysError(ESRCH, "kill(" + std::to_string(pid) + ", 0)", "no such process");
    return nullptr;
  }
  if ((*err = t->Load(opts.events)).code) return nullptr;
  // The probes first, then the processes: a thread born in between is seen
  // by the fork probe, one born before is in /proc.
  if (int rc = iotrace_bpf__attach(t->skel_)) {
    *err = SysError(-rc, "bpf(BPF_RAW_TRACEPOINT_OPEN)", Explain(-rc));
    return nullptr;
  }
  if ((*err = t->Follow(pid, 0, true)).code) return nullptr;
  for (pid_t extra : opts.extra_pids) t->Follow(extra, pid, false);
  return t;
}

std::unique_ptr<EbpfTracer> EbpfTracer::Spawn(const SpawnSpec& spec, const TracerOptions& opts, TraceError* err) {
  std::unique_ptr<EbpfTracer> t(new EbpfTracer());
  if ((*err = t->Load(opts.events)).code) return nullptr;
  if (int rc = iotrace_bpf__attach(t->skel_)) {
    *err = SysError(-rc, "bpf(BPF_RAW_TRACEPOINT_OPEN)", Explain(-rc));
    return nullptr;
  }
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // go: the child waits on it until it is followed; errpipe (close-on-exec)
  // carries execve's errno, or closes on success.
  int go[2], errpipe[2];
  if (pipe2(go, O_CLOEXEC) < 0) {
    *err = SysError(errno, "pipe2()");
    return nullptr;
  }
  if (pipe2(errpipe, O_CLOEXEC) < 0) {
    *err = SysError(errno, "pipe2()");
    close(go[0]);
    close(go[1]);
    return nullptr;
  }
  pid_t child = fork();
  if (child < 0) {
    *err = SysError(errno, "fork()");
    for (int fd : {go[0], go[1], errpipe[0], errpipe[1]}) close(fd);
    return nullptr;
  }
  if (child == 0) {
    PrepareChild(spec);
    char c;
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    ExecOrReport(spec, argv.data(), envp.data(), errpipe[1]);
  }
  close(go[0]);
  close(errpipe[1]);
  t->pid_ = child;
  t->spawned_ = true;
  // Counting starts at its execve: what it does before is iotrace's set-up.
  const uint32_t key = static_cast<uint32_t>(child);
  iot_proc p{};
  bpf_map_update_elem(bpf_map__fd(t->skel_->maps.procs), &key, &p, BPF_ANY);
  iot_thread th = NewThread(child, child);
  th.until_exec = 1;
  bpf_map_update_elem(bpf_map__fd(t->skel_->maps.threads), &key, &th, BPF_ANY);
  char c = 1;
  ssize_t ignored = write(go[1], &c, 1);
  (void)ignored;
  close(go[1]);
  int e = 0;
  ssize_t n;
  while ((n = read(errpipe[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  close(errpipe[0]);
  if (n == static_cast<ssize_t>(sizeof e)) {
    waitpid(child, nullptr, 0);
    t->reaped_ = true;
    *err = SysError(e, "execve(" + spec.path + ")");
    return nullptr;
  }
  return t;
}

EbpfTracer::~EbpfTracer() { Stop(0); }

bool EbpfTracer::Stop(int timeout_ms) {
  (void)timeout_ms;  // nothing to wait for: the target never stopped
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return true;
  if (skel_) {
    // Detached first: the maps stop changing, so the last copy is one moment
    // of every map (a target churning threads would otherwise be ahead in
    // the maps read last), and the last events describe the same calls.
    iotrace_bpf__detach(skel_);
    last_ = Read();
    last_status_ = StatusLocked();
    if (events_) {
      events_dropped_left_ = EventsDropped();
      sink_.out = &events_left_;
      sink_.max = SIZE_MAX;
      sink_.discarded = 0;
      ring_buffer__consume(events_);
      sink_.out = nullptr;
      ring_buffer__free(events_);
      events_ = nullptr;
    }
    // Links, programs and maps go with their file descriptors; the kernel
    // does the same if iotrace is killed before it gets here.
    iotrace_bpf__destroy(skel_);
    skel_ = nullptr;
  }
  stopped_ = true;
  return true;
}

AggregateCopy EbpfTracer::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || !skel_) return last_;
  return Read();
}

void EbpfTracer::Reap() {
  if (!spawned_ || reaped_) return;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    reaped_status_ = status;
  }
}

TracerStatus EbpfTracer::Status() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) {
    // The target's end may come after the probes are gone: only a child of
    // ours can still tell it.
    Reap();
    TracerStatus s = last_status_;
    s.running = false;
    if (reaped_) {
      SetExit(&s.main, reaped_status_);
      s.target_gone = true;
    }
    return s;
  }
  return StatusLocked();
}

TracerStatus EbpfTracer::StatusLocked() {
  TracerStatus s;
  s.running = !stopped_;
  s.main.pid = static_cast<uint32_t>(pid_);
  Reap();
  bool all_gone = true;
  if (skel_) {
    const int fd = bpf_map__fd(skel_->maps.procs);
    for (uint32_t key : Keys<uint32_t>(fd)) {
      iot_proc p{};
      if (bpf_map_lookup_elem(fd, &key, &p) != 0) continue;
      // An exit the probe missed (before it was attached, or before Follow
      // added the pid) shows as a pid that is gone, or a zombie nobody reaps.
      const bool gone = p.exited || (kill(static_cast<pid_t>(key), 0) != 0 && errno == ESRCH) ||
                        ExitedProcess(static_cast<pid_t>(key));
      if (!gone) all_gone = false;
      if (static_cast<pid_t>(key) == pid_ && p.exited) SetExit(&s.main, p.status);
    }
  } else {
    all_gone = false;
  }
  if (reaped_) SetExit(&s.main, reaped_status_);
  s.target_gone = (skel_ && all_gone) || reaped_;
  return s;
}

AggregateCopy EbpfTracer::Read() {
  AggregateCopy c;
  c.mono_ns = MonoNs();
  const int ncpu = ncpu_;

  std::vector<sys_stat> sys_cpu;
  const int sys_fd = bpf_map__fd(skel_->maps.sys_stats);
  for (uint32_t nr = 0; nr < IOT_NR_MAX; nr++) {
    if (!LookupPercpu(sys_fd, &nr, ncpu, &sys_cpu)) continue;
    sys_stat s{};
    for (const auto& v : sys_cpu) SumSys(&s, v);
    if (s.calls) c.syscalls.emplace_back(nr, s);
  }

  std::map<uint32_t, std::map<uint32_t, uint64_t>> errnos;
  std::vector<uint64_t> counts;
  const int errno_fd = bpf_map__fd(skel_->maps.errnos);
  for (uint32_t key : Keys<uint32_t>(errno_fd)) {
    if (!LookupPercpu(errno_fd, &key, ncpu, &counts)) continue;
    uint64_t n = 0;
    for (uint64_t v : counts) n += v;
    if (n) errnos[key >> 8][key & 0xff] += n;
  }
  // In the order of c.syscalls, only for the syscalls listed there (the
  // addon pairs them up in one pass).
  for (const auto& sc : c.syscalls) {
    auto it = errnos.find(sc.first);
    if (it == errnos.end() || !sc.second.errors) continue;
    c.errnos.emplace_back(sc.first, std::vector<std::pair<uint32_t, uint64_t>>(it->second.begin(), it->second.end()));
  }

  const int fd_fd = bpf_map__fd(skel_->maps.fds);
  for (uint64_t key : Keys<uint64_t>(fd_fd)) {
    fd_stat f{};
    if (bpf_map_lookup_elem(fd_fd, &key, &f) != 0) continue;
    Link& l = links_[key];
    // Read the link the first time, and again after a close: the number may
    // stand for another descriptor now. One closed for good keeps its last link.
    if (l.link.empty() || l.closes != f.closes) {
      std::string link = FdLink(static_cast<pid_t>(key >> 32), static_cast<int>(key & 0xffffffffu));
      if (!link.empty()) {
        l.link = std::move(link);
        l.closes = f.closes;
      }
    }
    c.fds.emplace_back(key, f);
    c.fd_links.push_back(l.link);
  }

  const int th_fd = bpf_map__fd(skel_->maps.threads);
  for (uint32_t key : Keys<uint32_t>(th_fd)) {
    iot_thread t{};
    if (bpf_map_lookup_elem(th_fd, &key, &t) != 0) continue;
    // Set-up entries of a command that never reached its execve are not threads of it yet.
    if (t.until_exec) continue;
    c.threads.push_back(t.st);
    c.thread_alive.push_back(t.alive);
    if (t.alive) c.tracees++;
  }
  // An ended thread's entry is never written again (a new thread with its
  // tid, once pid numbers wrap, replaces it whole), so it can leave the map.
  std::vector<size_t> fold = EndedToFold(c.threads, c.thread_alive);
  std::vector<uint8_t> drop(c.threads.size());
  for (size_t i : fold) {
    folded_.Add(c.threads[i]);
    bpf_map_delete_elem(th_fd, &c.threads[i].tid);
    drop[i] = 1;
  }
  if (!fold.empty()) {
    size_t w = 0;
    for (size_t i = 0; i < c.threads.size(); i++) {
      if (drop[i]) continue;
      c.threads[w] = c.threads[i];
      c.thread_alive[w++] = c.thread_alive[i];
    }
    c.threads.resize(w);
    c.thread_alive.resize(w);
  }
  c.folded = folded_;
  std::vector<iot_folded> replaced;
  const uint32_t folded_key = 0;
  if (LookupPercpu(bpf_map__fd(skel_->maps.folded), &folded_key, ncpu, &replaced))
    for (const auto& v : replaced) c.folded.Add(v.sum, v.threads);

  const int proc_fd = bpf_map__fd(skel_->maps.procs);
  for (uint32_t key : Keys<uint32_t>(proc_fd)) {
    iot_proc p{};
    if (bpf_map_lookup_elem(proc_fd, &key, &p) != 0) continue;
    ProcessStat ps;
    ps.pid = key;
    ps.parent_pid = p.parent;
    ps.execs = p.execs;
    if (p.exited) SetExit(&ps, p.status);
    c.processes.push_back(ps);
  }

  const uint32_t zero = 0;
  std::vector<iot_ebpf_counters> cnt;
  if (LookupPercpu(bpf_map__fd(skel_->maps.counters), &zero, ncpu, &cnt)) {
    iot_ebpf_counters k{};
    for (const auto& v : cnt) SumU64s(&k, v);
    c.counters.clones = k.clones;
    c.counters.forks = k.forks;
    c.counters.execs = k.execs;
    c.counters.thread_exits = k.thread_exits;
    c.counters.signals = k.signals;
    c.counters.unmatched_exits = k.unmatched_exits;
    c.counters.unknown_nr = k.unknown_nr;
    c.counters.fd_overflow = k.fd_overflow;
    c.counters.thread_overflow = k.thread_overflow;
    c.counters.process_overflow = k.process_overflow;
    c.counters.uring_overflow = k.uring_overflow;
  }
  std::vector<io_stat> io;
  if (LookupPercpu(bpf_map__fd(skel_->maps.io_stats), &zero, ncpu, &io))
    for (const auto& v : io) SumIo(&c.io, v);

  std::vector<uring_op_stat> ops;
  const int ops_fd = bpf_map__fd(skel_->maps.uring_ops);
  for (uint32_t op = 0; op < IOT_URING_OPS; op++) {
    if (!LookupPercpu(ops_fd, &op, ncpu, &ops)) continue;
    uring_op_stat s{};
    for (const auto& v : ops) SumUring(&s, v);
    if (s.submitted || s.completions) c.uring_ops.emplace_back(op, s);
  }
  return c;
}

}  // namespace iotrace
