// SPDX-License-Identifier: MIT
// The ptrace backend: one tracer thread that owns every ptrace call.
//
// Threads: the kernel accepts ptrace requests for a tracee only from the
// thread that attached it, so a dedicated std::thread attaches, waits for
// stops, aggregates and detaches. The JS thread never calls ptrace: it reads
// the aggregation under its mutex (Snapshot) a few times a second and asks for
// the end (Stop). Not a Napi::AsyncWorker: the thread lives as long as the
// session and blocks in waitpid, it is no unit of work.
//
// Stops are handled the way strace handles them with PTRACE_SEIZE (see
// ptrace(2), "Stopped states"): syscall-stops carry SIGTRAP|0x80
// (PTRACE_O_TRACESYSGOOD), group-stops come as PTRACE_EVENT_STOP with the stop
// signal and get PTRACE_LISTEN, every other signal stop is a
// signal-delivery-stop whose signal is re-injected on resume.
#include "native/ptrace/tracer.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <iterator>
#include <set>

#include "native/child.h"
#include "native/ptrace/arch.h"
#include "native/ptrace/proc.h"
#include "native/ptrace/seccomp.h"

namespace iotrace {

namespace {

// Interrupts the tracer thread's waitpid when JS asks it to stop. SIGURG is
// ignored by default, so a stray one elsewhere in the process does no harm.
constexpr int kWakeSignal = SIGURG;

void OnWake(int) {}

void InstallWakeHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnWake;  // no SA_RESTART: waitpid must return EINTR
    sigemptyset(&sa.sa_mask);
    sigaction(kWakeSignal, &sa, nullptr);
  });
}

bool IsStopSignal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

pid_t TgidOf(pid_t tid, pid_t fallback) {
  long tgid = StatusField(tid, "Tgid");
  return tgid > 0 ? static_cast<pid_t>(tgid) : fallback;
}

// Whether this process holds CAP_SYS_PTRACE (bit 19 of CapEff,
// include/uapi/linux/capability.h): root can lack it, a non-root user can have it.
bool HasPtraceCapability() {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return false;
  char line[256];
  unsigned long long eff = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "CapEff: %llx", &eff) == 1) break;
  fclose(f);
  return (eff >> 19) & 1;
}

// Why PTRACE_SEIZE said EPERM, in words a user can act on.
std::string ExplainPermission(pid_t pid) {
  long tracer = StatusField(pid, "TracerPid");
  if (tracer > 0) return "already traced by pid " + std::to_string(tracer);
  if (!HasPtraceCapability()) {
    long uid = StatusField(pid, "Uid");
    return geteuid() != 0 ? "not root and without CAP_SYS_PTRACE; the target runs as uid " + std::to_string(uid)
                          : "running without CAP_SYS_PTRACE (dropped from root); the target runs as uid " + std::to_string(uid);
  }
  FILE* f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
  int scope = 0;
  if (f) {
    if (fscanf(f, "%d", &scope) != 1) scope = 0;
    fclose(f);
  }
  if (scope >= 3) return "kernel.yama.ptrace_scope=3 forbids ptrace attach for everyone";
  if (StatusField(pid, "PPid") == 0 || StatusField(pid, "Tgid") == 2)
    return "a kernel thread cannot be traced";
  return "the kernel refused it (a kernel thread, or a process being traced or set up)";
}

// The task is gone or has exited (a zombie, or dead and being reaped).
bool Exited(pid_t tid) {
  const std::string state = StatusState(tid);
  return state.empty() || state == "Z" || state == "X";
}

// One word of a stopped tracee's memory.
bool PeekWord(pid_t tid, uint64_t addr, long* out) {
  errno = 0;
  long w = ptrace(PTRACE_PEEKDATA, tid, reinterpret_cast<void*>(addr), nullptr);
  if (w == -1 && errno) return false;
  *out = w;
  return true;
}

// len bytes at addr, word by word, never touching a byte outside
// [addr, addr + len) unless the object is shorter than a word (then the
// word starting at it, or failing that the word ending at its end).
bool PeekTracee(pid_t tid, uint64_t addr, uint8_t* buf, size_t len) {
  constexpr size_t kWord = sizeof(long);
  long w = 0;
  if (len < kWord) {
    if (PeekWord(tid, addr, &w)) {
      memcpy(buf, &w, len);
      return true;
    }
    if (addr < kWord - len || !PeekWord(tid, addr - (kWord - len), &w)) return false;
    memcpy(buf, reinterpret_cast<const uint8_t*>(&w) + (kWord - len), len);
    return true;
  }
  for (size_t off = 0; off < len; off += kWord) {
    // The last word ends at the object's end, overlapping the one before.
    const size_t at = off + kWord <= len ? off : len - kWord;
    if (!PeekWord(tid, addr + at, &w)) return false;
    memcpy(buf + at, &w, kWord);
  }
  return true;
}

// Fills mem (what MemoryWanted asked for) from a tracee stopped at a syscall
// exit: process_vm_readv, or PTRACE_PEEKDATA where that call is missing
// (ENOSYS) or refused (EPERM). The address is the tracee's to choose: a
// bad one fails the read (mem->ok stays false), nothing more; the length is
// ours, fixed and checked against the buffer.
void ReadTracee(pid_t tid, TraceeRead* mem) {
  uint8_t buf[TraceeRead::kMaxLen] = {};
  const size_t len = mem->len;
  if (len < sizeof mem->value || len > sizeof buf) return;
  if (mem->addr == 0 || mem->addr > UINT64_MAX - len) return;
  struct iovec local = {buf, len};
  struct iovec remote = {reinterpret_cast<void*>(mem->addr), len};
  ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
  bool ok = n == static_cast<ssize_t>(len);
  if (n < 0 && (errno == ENOSYS || errno == EPERM)) ok = PeekTracee(tid, mem->addr, buf, len);
  if (!ok) return;
  memcpy(&mem->value, buf, sizeof mem->value);
  mem->ok = true;
}

}  // namespace

std::unique_ptr<Tracer> Tracer::Attach(pid_t pid, const TracerOptions& opts, TraceError* err) {
  std::unique_ptr<Tracer> t(new Tracer(pid, opts));
  t->Start(nullptr, err);
  if (err->code) return nullptr;
  return t;
}

std::unique_ptr<Tracer> Tracer::Spawn(const SpawnSpec& spec, const TracerOptions& opts,
                                      TraceError* err) {
  std::unique_ptr<Tracer> t(new Tracer(0, opts));
  t->Start(&spec, err);
  if (err->code) return nullptr;
  return t;
}

void Tracer::Start(const SpawnSpec* spec, TraceError* err) {
  InstallWakeHandler();
  thread_ = std::thread(&Tracer::Main, this, spec);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return started_; });
  *err = start_error_;
  if (err->code) {
    lock.unlock();
    thread_.join();
  }
}

Tracer::~Tracer() {
  Stop(5000);
  if (exec_err_fd_ >= 0) close(exec_err_fd_);
}

void Tracer::PublishStart(const TraceError& err) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
    start_error_ = err;
    main_.pid = static_cast<uint32_t>(pid_);
  }
  cv_.notify_all();
}

void Tracer::Main(const SpawnSpec* spec) {
  // Process-directed signals (SIGINT, SIGTERM, SIGCHLD) belong to Node's
  // main thread; only the wake-up signal interrupts this one.
  sigset_t mask;
  sigfillset(&mask);
  sigdelset(&mask, kWakeSignal);
  for (int sync : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigdelset(&mask, sync);
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);

  TraceError err = spec ? SpawnChild(*spec) : AttachAll();
  if (err.code || !awaiting_exec_) PublishStart(err);
  if (err.code) return;

  Loop();
  if (awaiting_exec_) {
    awaiting_exec_ = false;  // lost the child some other way: never leave Start() waiting
    PublishStart(SysError(ECHILD, "execve(" + exec_path_ + ")", "the child ended before its exec"));
  }
  if (!tracees_.empty()) DetachAll();
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    detach_pending_ = static_cast<uint32_t>(tracees_.size());
  }
  cv_.notify_all();
}

unsigned long Tracer::SeizeOptions() const {
  // No PTRACE_O_EXITKILL in attach mode: if iotrace dies, the kernel must
  // detach and let the target run on. A command under run mode's seccomp
  // filter cannot run on: the filter cannot be removed, and without a tracer
  // SECCOMP_RET_TRACE fails every traced syscall with ENOSYS
  // (Documentation/userspace-api/seccomp_filter.rst). It dies with iotrace.
  unsigned long o = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
                    PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC;
  if (opts_.seccomp) o |= PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL;
  return o;
}

Tracer::Tracee& Tracer::Add(pid_t tid, pid_t tgid) {
  Tracee& t = tracees_[tid];
  t.tid = tid;
  t.tgid = tgid;
  agg_.ThreadSeen(static_cast<uint32_t>(tgid), static_cast<uint32_t>(tid));
  agg_.SetTracees(static_cast<uint32_t>(tracees_.size()));
  return t;
}

TraceError Tracer::SeizeProcess(pid_t pid, bool required) {
  // Threads appear while we attach: scan /proc/<pid>/task again until a pass
  // finds no thread we have not seized. Threads created by a seized thread
  // are attached by the kernel (PTRACE_O_TRACECLONE) and show up as stops.
  bool any = false;
  for (int pass = 0; pass < 1000; pass++) {
    bool added = false;
    for (pid_t tid : ListTasks(pid)) {
      if (tracees_.count(tid)) {
        any = true;
        continue;
      }
      if (ptrace(PTRACE_SEIZE, tid, nullptr, SeizeOptions()) < 0) {
        int e = errno;
        if (e == ESRCH || !required) continue;  // the thread exited between the scan and now
        // EPERM that is no refusal (kernel/ptrace.c, ptrace_attach): a task
        // that has begun to exit (exit_state set) vanished; a thread that a
        // thread seized in an earlier pass created is already ours
        // (PTRACE_O_TRACECLONE), and its clone event adds it.
        if (e == EPERM && (Exited(tid) || StatusField(tid, "TracerPid") == static_cast<long>(gettid()))) continue;
        std::string call = "ptrace(PTRACE_SEIZE, " + std::to_string(tid) + ")";
        return SysError(e, call, e == EPERM ? ExplainPermission(pid) : "");
      }
      // An interrupt stop is needed to start syscall tracing (PTRACE_SYSCALL
      // resumes only a stopped tracee). It makes a thread sleeping in
      // epoll_wait or sigtimedwait return EINTR once, as strace -p does.
      ptrace(PTRACE_INTERRUPT, tid, nullptr, 0);
      Add(tid, pid);
      added = any = true;
    }
    if (!added) break;
  }
  if (!any && required)
    return SysError(ESRCH, "ptrace(PTRACE_SEIZE, " + std::to_string(pid) + ")", "the process exited during attach");
  if (any) agg_.ProcessSeen(static_cast<uint32_t>(pid), pid == pid_ ? 0 : static_cast<uint32_t>(StatusField(pid, "PPid")));
  return TraceError();
}

TraceError Tracer::AttachAll() {
  if (ListTasks(pid_).empty()) return SysError(ESRCH, "open(/proc/" + std::to_string(pid_) + "/task)");
  TraceError err = SeizeProcess(pid_, true);
  if (err.code) {
    // Already-seized threads must not stay traced after a failed attach;
    // PTRACE_DETACH needs them stopped, which DetachAll waits for.
    DetachAll();
    tracees_.clear();
    return err;
  }
  for (pid_t extra : opts_.extra_pids) {
    if (extra != pid_) SeizeProcess(extra, false);
  }
  return TraceError();
}

TraceError Tracer::SpawnChild(const SpawnSpec& spec) {
  // Everything the child needs is built before fork: after fork in a
  // multi-threaded process only async-signal-safe calls are allowed.
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::vector<sock_filter> filter;
  if (opts_.seccomp) filter = BuildTraceFilter(opts_.seccomp_nrs);
  struct sock_fprog prog;
  prog.len = static_cast<unsigned short>(filter.size());
  prog.filter = filter.data();
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) return SysError(errno, "pipe2()");

  pid_t child = fork();
  if (child < 0) {
    int e = errno;
    close(errpipe[0]);
    close(errpipe[1]);
    return SysError(e, "fork()");
  }
  if (child == 0) {
    PrepareChild(spec);
    // Wait here for the tracer's PTRACE_SEIZE (strace's startup_child does the
    // same): the filter must be installed after the tracer is there, or
    // SECCOMP_RET_TRACE would fail every traced syscall with ENOSYS.
    kill(getpid(), SIGSTOP);
    // A failure is reported as its errno through the pipe: negative for the
    // seccomp set-up, positive for execve itself.
    if (!filter.empty()) {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
          syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        int e = -errno;
        ssize_t ignored = write(errpipe[1], &e, sizeof e);
        (void)ignored;
        _exit(126);
      }
    }
    ExecOrReport(spec, argv.data(), envp.data(), errpipe[1]);
  }
  close(errpipe[1]);
  exec_err_fd_ = errpipe[0];
  exec_path_ = spec.path;

  pid_ = child;
  int status = 0;
  if (waitpid(child, &status, WSTOPPED | __WALL) < 0 || !WIFSTOPPED(status)) {
    int e = errno ? errno : ECHILD;
    return SysError(e, "waitpid(" + std::to_string(child) + ")", "the child did not start");
  }
  if (ptrace(PTRACE_SEIZE, child, nullptr, SeizeOptions()) < 0) {
    int e = errno;
    kill(child, SIGKILL);
    waitpid(child, &status, __WALL);
    return SysError(e, "ptrace(PTRACE_SEIZE, " + std::to_string(child) + ")");
  }
  Add(child, child);
  agg_.ProcessSeen(static_cast<uint32_t>(child), 0);
  startup_stop_ = startup_cont_ = true;
  awaiting_exec_ = true;
  kill(child, SIGCONT);
  return TraceError();
}

void Tracer::Loop() {
  while (!stop_requested_.load() && !tracees_.empty()) {
    int status = 0;
    // __WNOTHREAD: only this thread's tracees and children; processes that
    // Node itself spawned are reaped by libuv, not stolen here.
    pid_t tid = waitpid(-1, &status, __WALL | __WNOTHREAD);
    if (tid < 0) {
      if (errno == EINTR) continue;
      // ECHILD: nothing left to wait for. A tracee that is also a child of
      // Node's main thread can be reaped by libuv before us; it is gone all the same.
      for (const auto& kv : tracees_) agg_.ThreadGone(static_cast<uint32_t>(kv.first));
      tracees_.clear();
      agg_.SetTracees(0);
      break;
    }
    HandleStop(tid, status, MonoNs());
  }
  if (tracees_.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    target_gone_ = true;
  }
}

void Tracer::Resume(const Tracee& t, int sig) {
  // In seccomp mode a tracee runs freely (PTRACE_CONT) until the filter stops
  // it; between that stop and the syscall's exit it must stop at the exit.
  int req = (!opts_.seccomp || t.in_syscall) ? PTRACE_SYSCALL : PTRACE_CONT;
  // ESRCH: killed meanwhile (SIGKILL needs no stop); its exit report follows.
  ptrace(static_cast<__ptrace_request>(req), t.tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
}

void Tracer::HandleStop(pid_t tid, int status, uint64_t now) {
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    Gone(tid, status);
    return;
  }
  if (!WIFSTOPPED(status)) return;
  auto it = tracees_.find(tid);
  if (it == tracees_.end()) {
    // A new thread or child can report its first stop before its parent's
    // PTRACE_EVENT_CLONE/FORK does, and under load even run to its exit
    // before that event: remember it, so the event does not add it again.
    pid_t tgid = TgidOf(tid, tid);
    it = tracees_.find(Add(tid, tgid).tid);
    pid_t creator = tgid;
    if (tgid == tid) {
      creator = static_cast<pid_t>(StatusField(tid, "PPid"));
      agg_.ProcessSeen(static_cast<uint32_t>(tid), static_cast<uint32_t>(creator));
    }
    before_event_[tid] = creator;
  }
  Tracee& t = it->second;
  int sig = WSTOPSIG(status);
  int event = static_cast<unsigned>(status) >> 16;

  if (sig == (SIGTRAP | 0x80) || event == PTRACE_EVENT_SECCOMP) {
    HandleSyscallStop(t, now);
    Resume(t, 0);
    return;
  }
  switch (event) {
    case 0:
      // Signal-delivery-stop: hand the signal on, or the target loses it.
      if (sig == SIGCONT && tid == pid_ && startup_cont_) startup_cont_ = false;
      else agg_.Bump(&Counters::signals);
      Resume(t, sig);
      return;
    case PTRACE_EVENT_CLONE:
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
      HandleNewChild(t, event);
      Resume(t, 0);
      return;
    case PTRACE_EVENT_EXEC:
      HandleExec(tid);
      return;
    case PTRACE_EVENT_STOP:
      if (IsStopSignal(sig)) {
        // Group-stop (job control): stay stopped, but keep receiving events.
        if (tid == pid_ && startup_stop_) startup_stop_ = false;
        else agg_.Bump(&Counters::group_stops);
        ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
        return;
      }
      Resume(t, 0);  // our interrupt, or a new tracee's first stop
      return;
    default:
      Resume(t, 0);
      return;
  }
}

void Tracer::HandleSyscallStop(Tracee& t, uint64_t now) {
  struct __ptrace_syscall_info info;
  memset(&info, 0, sizeof info);
  if (ptrace(PTRACE_GET_SYSCALL_INFO, t.tid, reinterpret_cast<void*>(sizeof info), &info) <= 0) return;
  switch (info.op) {
    case PTRACE_SYSCALL_INFO_ENTRY:
    case PTRACE_SYSCALL_INFO_SECCOMP: {
      const uint64_t nr = info.op == PTRACE_SYSCALL_INFO_ENTRY ? info.entry.nr : info.seccomp.nr;
      const uint64_t* args = info.op == PTRACE_SYSCALL_INFO_ENTRY ? info.entry.args : info.seccomp.args;
      t.in_syscall = true;
      t.enter_ns = now;
      if (info.arch != kNativeAuditArch || (nr & kForeignNrMask)) {
        t.nr = UINT32_MAX;
        agg_.Bump(&Counters::foreign_arch);
        return;
      }
      if (nr >= IOT_NR_MAX) {
        t.nr = UINT32_MAX;
        agg_.Bump(&Counters::unknown_nr);  // also syscall(-1): a probe, not a call
        return;
      }
      t.nr = static_cast<uint32_t>(nr);
      memcpy(t.args, args, sizeof t.args);
      int8_t fd_arg = iot_syscalls[nr].fd_arg;
      int32_t fd = fd_arg >= 0 ? static_cast<int32_t>(args[fd_arg]) : -1;
      agg_.SetCurrent(static_cast<uint32_t>(t.tgid), static_cast<uint32_t>(t.tid),
                      static_cast<int32_t>(nr), fd, now);
      return;
    }
    case PTRACE_SYSCALL_INFO_EXIT: {
      if (!t.in_syscall) {
        // The entry happened before we attached (or during the interrupt).
        agg_.Bump(&Counters::unmatched_exits);
        return;
      }
      t.in_syscall = false;
      if (t.nr == UINT32_MAX) return;
      {
        // The link is read while the tracee is stopped, at most once per
        // descriptor (and again after a close): a name that outlives the fd.
        const iot_syscall_desc& d = iot_syscalls[t.nr];
        if (d.fd_arg >= 0 && d.cls != IOT_CLASS_FD_CLOSE) NoteFdLink(t.tgid, static_cast<int32_t>(t.args[d.fd_arg]));
        if (d.ret == IOT_RET_FD && !info.exit.is_error) NoteFdLink(t.tgid, info.exit.rval);
      }
      // Memory is read now, while the tracee is stopped, and outside the
      // aggregate's lock: snapshots never wait for a tracee's page faults.
      TraceeRead mem = MemoryWanted(t.nr, t.args, info.exit.rval, info.exit.is_error != 0);
      if (mem.kind != TraceeRead::kNone) ReadTracee(t.tid, &mem);
      agg_.AddSyscall(static_cast<uint32_t>(t.tgid), static_cast<uint32_t>(t.tid), t.nr, t.args,
                      info.exit.rval, info.exit.is_error != 0, now - t.enter_ns, &mem);
      if (opts_.events) {
        const int8_t fd_arg = iot_syscalls[t.nr].fd_arg;
        iot_event e;
        e.start_ns = t.enter_ns;
        e.dur_ns = now - t.enter_ns;
        e.pid = static_cast<uint32_t>(t.tgid);
        e.tid = static_cast<uint32_t>(t.tid);
        e.nr = static_cast<int32_t>(t.nr);
        e.fd = fd_arg >= 0 ? static_cast<int32_t>(t.args[fd_arg]) : -1;
        e.ret = info.exit.rval;
        events_.Push(e);
      }
      return;
    }
    default:
      return;
  }
}

void Tracer::NoteFdLink(pid_t tgid, int64_t fd) {
  if (!agg_.FdNeedsLink(static_cast<uint32_t>(tgid), fd)) return;
  std::string link = FdLink(tgid, static_cast<int>(fd));
  if (link.empty()) return;  // closed already (or never opened): try at the next use
  agg_.SetFdLink(static_cast<uint32_t>(tgid), fd, std::move(link));
}

void Tracer::HandleNewChild(Tracee& parent, int event) {
  unsigned long msg = 0;
  if (ptrace(PTRACE_GETEVENTMSG, parent.tid, nullptr, &msg) < 0) return;
  pid_t child = static_cast<pid_t>(msg);
  bool thread = event == PTRACE_EVENT_CLONE && TgidOf(child, parent.tgid) == parent.tgid;
  if (thread) {
    agg_.Bump(&Counters::clones);
  } else {
    agg_.Bump(&Counters::forks);
    agg_.ProcessSeen(static_cast<uint32_t>(child), static_cast<uint32_t>(parent.tgid));
  }
  if (!before_event_.erase(child) && !tracees_.count(child)) Add(child, thread ? parent.tgid : child);
}

void Tracer::HandleExec(pid_t tid) {
  // After a successful execve only the thread-group leader is left, and it
  // has the leader's id even when another thread called execve; the old
  // thread's state (inside execve) moves to the leader (ptrace(2), "execve(2)
  // under ptrace").
  unsigned long former = 0;
  ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &former);
  auto self = tracees_.find(tid);
  if (former && static_cast<pid_t>(former) != tid) {
    auto old = tracees_.find(static_cast<pid_t>(former));
    if (old != tracees_.end() && self != tracees_.end()) {
      Tracee moved = old->second;
      moved.tid = tid;
      self->second = moved;
    }
  }
  if (self != tracees_.end()) {
    pid_t tgid = self->second.tgid;
    for (auto it = tracees_.begin(); it != tracees_.end();) {
      if (it->second.tgid == tgid && it->first != tid) {
        agg_.ThreadGone(static_cast<uint32_t>(it->first));
        it = tracees_.erase(it);
      } else {
        ++it;
      }
    }
    agg_.SetTracees(static_cast<uint32_t>(tracees_.size()));
    agg_.ProcessExec(static_cast<uint32_t>(tgid));
    if (awaiting_exec_ && tid == pid_) {
      awaiting_exec_ = false;
      PublishStart(TraceError());
    }
    Resume(self->second, 0);
  }
}

void Tracer::Gone(pid_t tid, int status) {
  auto it = tracees_.find(tid);
  if (it == tracees_.end()) return;  // a thread already dropped at exec
  pid_t tgid = it->second.tgid;
  tracees_.erase(it);
  agg_.ThreadGone(static_cast<uint32_t>(tid));
  agg_.SetTracees(static_cast<uint32_t>(tracees_.size()));
  // The leader's exit is reported after all its threads' (delay_group_leader
  // in kernel/exit.c): it is the process's exit.
  if (awaiting_exec_ && tid == pid_) {
    awaiting_exec_ = false;
    int e = 0;
    ssize_t n = read(exec_err_fd_, &e, sizeof e);
    if (n == static_cast<ssize_t>(sizeof e) && e > 0)
      PublishStart(SysError(e, "execve(" + exec_path_ + ")"));
    else if (n == static_cast<ssize_t>(sizeof e))
      PublishStart(SysError(-e, "seccomp(SECCOMP_SET_MODE_FILTER)", "installing the run-mode filter in the child"));
    else
      PublishStart(SysError(ECHILD, "execve(" + exec_path_ + ")", "the child ended before its exec"));
  }
  if (tid == tgid) {
    // Its threads' and children's clone/fork events will not come now (a
    // creator killed in between never reports one): forget the waits.
    for (auto w = before_event_.begin(); w != before_event_.end();)
      w = w->second == tid ? before_event_.erase(w) : std::next(w);
    agg_.ProcessExit(static_cast<uint32_t>(tid), status);
    if (tid == pid_) {
      std::lock_guard<std::mutex> lock(mu_);
      main_.exited = 1;
      if (WIFEXITED(status)) main_.exit_code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) {
        main_.exit_signal = WTERMSIG(status);
        main_.core_dumped = WCOREDUMP(status) ? 1 : 0;
      }
    }
  }
}

void Tracer::DetachAll() {
  if (opts_.seccomp) {
    // See SeizeOptions: what is left of a seccomp-filtered command cannot run
    // untraced, so it is ended, not left to fail every I/O call.
    for (const auto& kv : tracees_) kill(kv.first, SIGKILL);
  }
  // PTRACE_DETACH needs a stopped tracee: interrupt each, then detach it at
  // whatever stop it reports first. A signal-delivery-stop's signal goes
  // with the detach so it is delivered, not lost; a group-stopped tracee stays
  // stopped, as job control left it.
  for (const auto& kv : tracees_) ptrace(PTRACE_INTERRUPT, kv.first, nullptr, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!tracees_.empty() && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t tid = waitpid(-1, &status, __WALL | __WNOTHREAD);
    if (tid < 0) {
      if (errno == EINTR) continue;
      tracees_.clear();
      break;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      Gone(tid, status);
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status);
    int event = static_cast<unsigned>(status) >> 16;
    int inject = 0;
    if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
      // The new task is already attached by the kernel: it must be detached too.
      unsigned long msg = 0;
      if (ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &msg) == 0 && !tracees_.count(static_cast<pid_t>(msg)))
        tracees_[static_cast<pid_t>(msg)].tid = static_cast<pid_t>(msg);
    } else if (event == 0 && sig != (SIGTRAP | 0x80)) {
      inject = sig;
      agg_.Bump(&Counters::signals);
    }
    ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(inject)));
    tracees_.erase(tid);
  }
  agg_.SetTracees(static_cast<uint32_t>(tracees_.size()));
}

bool Tracer::Stop(int timeout_ms) {
  if (!thread_.joinable()) return true;
  stop_requested_.store(true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::unique_lock<std::mutex> lock(mu_);
  // Signal again until the thread is done: a wake-up that lands just before
  // it enters waitpid would otherwise be lost.
  while (!finished_ && std::chrono::steady_clock::now() < deadline) {
    pthread_kill(thread_.native_handle(), kWakeSignal);
    cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
  bool done = finished_;
  lock.unlock();
  if (done) {
    thread_.join();
  } else {
    // Still waiting on a tracee that does not stop (uninterruptible sleep):
    // when iotrace exits, the kernel detaches whatever is left.
    thread_.detach();
  }
  return done;
}

TracerStatus Tracer::Status() {
  TracerStatus s;
  std::lock_guard<std::mutex> lock(mu_);
  s.running = started_ && !finished_;
  s.target_gone = target_gone_;
  s.main = main_;
  s.detach_pending = detach_pending_;
  return s;
}

}  // namespace iotrace
