// SPDX-License-Identifier: MIT
// The addon's surface: attach/spawn a tracer (ptrace or eBPF) and read its aggregation
// as plain JS objects. It decides nothing; agent/ validates and interprets.
// Declared once in native/index.d.ts.
#include <malloc.h>
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "native/ebpf/ebpf-tracer.h"
#include "native/ptrace/tracer.h"

namespace iotrace {
namespace {

Napi::Error MakeError(Napi::Env env, const TraceError& e) {
  std::string msg = e.syscall + ": " + strerror(e.code);
  if (!e.reason.empty()) msg += " (" + e.reason + ")";
  Napi::Error err = Napi::Error::New(env, msg);
  const char* name = strerrorname_np(e.code);
  err.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  err.Set("errno", Napi::Number::New(env, e.code));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  err.Set("reason", Napi::String::New(env, e.reason));
  return err;
}

Napi::Number Num(Napi::Env env, uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }

// A listed thread and the sum of the folded ones carry the same counters (agent ThreadCounters).
void SetThreadCounters(Napi::Env env, Napi::Object& to, const thread_stat& t) {
  to.Set("calls", Num(env, t.calls));
  to.Set("totalNs", Num(env, t.total_ns));
  to.Set("bytesIn", Num(env, t.bytes_in));
  to.Set("bytesOut", Num(env, t.bytes_out));
  Napi::Array wait_ns = Napi::Array::New(env, IOT_WAIT_KINDS);
  Napi::Array wait_calls = Napi::Array::New(env, IOT_WAIT_KINDS);
  for (uint32_t k = 0; k < IOT_WAIT_KINDS; k++) {
    wait_ns.Set(k, Num(env, t.wait_ns[k]));
    wait_calls.Set(k, Num(env, t.wait_calls[k]));
  }
  to.Set("waitNs", wait_ns);
  to.Set("waitCalls", wait_calls);
  to.Set("eagain", Num(env, t.eagain));
  to.Set("eagainSpin", Num(env, t.eagain_spin));
}

TracerOptions ParseOptions(const Napi::Object& o) {
  TracerOptions opts;
  opts.seccomp = o.Get("seccomp").ToBoolean().Value();
  opts.events = o.Get("events").ToBoolean().Value();
  Napi::Value extra = o.Get("extraPids");
  if (extra.IsArray()) {
    Napi::Array a = extra.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) opts.extra_pids.push_back(a.Get(i).ToNumber().Int32Value());
  }
  Napi::Value nrs = o.Get("seccompNrs");
  if (nrs.IsArray()) {
    Napi::Array a = nrs.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) opts.seccomp_nrs.push_back(a.Get(i).ToNumber().Uint32Value());
  }
  return opts;
}

std::vector<std::string> StringArray(const Napi::Array& a) {
  std::vector<std::string> v;
  for (uint32_t i = 0; i < a.Length(); i++) v.push_back(a.Get(i).ToString().Utf8Value());
  return v;
}

class TracerWrap;
// Live tracers, so that the environment's cleanup hook detaches them even if
// JS never called stop() (an exception, process.exit()).
std::mutex g_live_mu;
std::set<TracerWrap*> g_live;

class TracerWrap : public Napi::ObjectWrap<TracerWrap> {
 public:
  static Napi::FunctionReference* ctor;

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Tracer",
                       {InstanceMethod("snapshot", &TracerWrap::Snapshot),
                        InstanceMethod("status", &TracerWrap::GetStatus),
                        InstanceMethod("stop", &TracerWrap::Stop),
                        InstanceMethod("drainEvents", &TracerWrap::DrainEvents),
                        InstanceAccessor("pid", &TracerWrap::Pid, nullptr)});
  }

  explicit TracerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TracerWrap>(info) {
    std::lock_guard<std::mutex> lock(g_live_mu);
    g_live.insert(this);
  }
  ~TracerWrap() override {
    {
      std::lock_guard<std::mutex> lock(g_live_mu);
      g_live.erase(this);
    }
    StopTracer(2000);
  }

  void Adopt(std::unique_ptr<Collector> t) { tracer_ = std::move(t); }

  bool StopTracer(int timeout_ms) {
    if (!tracer_) return true;
    bool ok = tracer_->Stop(timeout_ms);
    // A tracer whose thread is still blocked on a tracee must outlive us;
    // it is leaked on purpose, the process is about to end anyway. A stopped
    // one is kept: its final status and aggregation stay readable.
    if (!ok) (void)tracer_.release();
    return ok;
  }

  static void CleanupAll() {
    std::set<TracerWrap*> live;
    {
      std::lock_guard<std::mutex> lock(g_live_mu);
      live = g_live;
    }
    for (TracerWrap* w : live) w->StopTracer(2000);
  }

 private:
  Napi::Value Pid(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), tracer_ ? tracer_->pid() : 0);
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    int timeout = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 3000;
    return Napi::Boolean::New(info.Env(), StopTracer(timeout));
  }

  Napi::Value GetStatus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    TracerStatus s = tracer_ ? tracer_->Status() : TracerStatus();
    o.Set("running", s.running);
    o.Set("targetGone", s.target_gone || !tracer_);
    o.Set("pid", Napi::Number::New(env, s.main.pid));
    o.Set("exited", Napi::Boolean::New(env, s.main.exited));
    o.Set("exitCode", s.main.exited && s.main.exit_signal == 0 ? Napi::Value(Napi::Number::New(env, s.main.exit_code)) : env.Null());
    o.Set("exitSignal", s.main.exit_signal ? Napi::Value(Napi::Number::New(env, s.main.exit_signal)) : env.Null());
    o.Set("coreDumped", Napi::Boolean::New(env, s.main.core_dumped));
    o.Set("detachPending", Napi::Number::New(env, s.detach_pending));
    return o;
  }

  // drainEvents(max, originNs): the events captured since the last drain,
  // flat, kEventColumns numbers per event (startNs - originNs, durNs, pid,
  // tid, nr, fd, ret), in one typed array: no JS object per event.
  Napi::Value DrainEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
      throw Napi::TypeError::New(env, "Usage: drainEvents(max, originNs)");
    const double max_d = info[0].As<Napi::Number>().DoubleValue();
    // A double out of the integer's range (Infinity, 1e300) does not convert: C++ leaves it undefined.
    const size_t max = max_d > 0 ? static_cast<size_t>(std::min(max_d, 1e15)) : 0;
    const double origin_d = info[1].As<Napi::Number>().DoubleValue();
    const uint64_t origin = origin_d > 0 ? static_cast<uint64_t>(std::min(origin_d, 1e19)) : 0;
    std::vector<iot_event> events;
    // A tracer leaked after a failed stop took its events with it.
    EventDrain d = tracer_ ? tracer_->DrainEvents(&events, max) : EventDrain();
    constexpr size_t kEventColumns = 7;
    Napi::Float64Array a = Napi::Float64Array::New(env, events.size() * kEventColumns);
    double* p = a.Data();
    for (const iot_event& e : events) {
      // Signed: a call entered before the origin (run mode's execve) starts before 0.
      *p++ = static_cast<double>(static_cast<int64_t>(e.start_ns - origin));
      *p++ = static_cast<double>(e.dur_ns);
      *p++ = e.pid;
      *p++ = e.tid;
      *p++ = e.nr;
      *p++ = e.fd;
      *p++ = static_cast<double>(e.ret);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("events", a);
    o.Set("discarded", Num(env, d.discarded));
    o.Set("dropped", Num(env, d.dropped));
    return o;
  }

  Napi::Value Snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!tracer_) throw Napi::Error::New(env, "snapshot(): the tracer is gone");
    AggregateCopy c = tracer_->Snapshot();
    Napi::Object o = Napi::Object::New(env);
    o.Set("monoNs", Num(env, c.mono_ns));
    o.Set("tracees", Num(env, c.tracees));

    Napi::Array sys = Napi::Array::New(env, c.syscalls.size());
    size_t ei = 0;
    for (size_t i = 0; i < c.syscalls.size(); i++) {
      const uint32_t nr = c.syscalls[i].first;
      const sys_stat& s = c.syscalls[i].second;
      Napi::Object so = Napi::Object::New(env);
      so.Set("nr", Num(env, nr));
      so.Set("calls", Num(env, s.calls));
      so.Set("errors", Num(env, s.errors));
      so.Set("eagain", Num(env, s.eagain));
      so.Set("totalNs", Num(env, s.total_ns));
      so.Set("maxNs", Num(env, s.max_ns));
      so.Set("bytes", Num(env, s.bytes));
      so.Set("ready", Num(env, s.ready));
      so.Set("watched", Num(env, s.watched));
      so.Set("maxWatched", Num(env, s.max_watched));
      so.Set("eagainSpin", Num(env, s.eagain_spin));
      Napi::Array lat = Napi::Array::New(env, IOT_LAT_BUCKETS);
      for (uint32_t b = 0; b < IOT_LAT_BUCKETS; b++) lat.Set(b, Num(env, s.lat_log2[b]));
      so.Set("latLog2", lat);
      Napi::Object errnos = Napi::Object::New(env);
      if (ei < c.errnos.size() && c.errnos[ei].first == nr) {
        for (const auto& e : c.errnos[ei].second) errnos.Set(std::to_string(e.first), Num(env, e.second));
        ei++;
      }
      so.Set("errnos", errnos);
      sys.Set(static_cast<uint32_t>(i), so);
    }
    o.Set("syscalls", sys);

    Napi::Array fds = Napi::Array::New(env, c.fds.size());
    for (size_t i = 0; i < c.fds.size(); i++) {
      const fd_stat& f = c.fds[i].second;
      Napi::Object fo = Napi::Object::New(env);
      fo.Set("pid", Num(env, c.fds[i].first >> 32));
      fo.Set("fd", Num(env, c.fds[i].first & 0xffffffffu));
      fo.Set("calls", Num(env, f.calls));
      fo.Set("errors", Num(env, f.errors));
      fo.Set("bytesIn", Num(env, f.bytes_in));
      fo.Set("bytesOut", Num(env, f.bytes_out));
      fo.Set("closes", Num(env, f.closes));
      fo.Set("reads", Num(env, f.reads));
      fo.Set("link", Napi::String::New(env, c.fd_links[i]));
      fds.Set(static_cast<uint32_t>(i), fo);
    }
    o.Set("fds", fds);

    Napi::Array threads = Napi::Array::New(env, c.threads.size());
    for (size_t i = 0; i < c.threads.size(); i++) {
      const thread_stat& t = c.threads[i];
      Napi::Object to = Napi::Object::New(env);
      to.Set("pid", Num(env, t.tgid));
      to.Set("tid", Num(env, t.tid));
      SetThreadCounters(env, to, t);
      to.Set("alive", Napi::Boolean::New(env, c.thread_alive[i] != 0));
      to.Set("curNr", Napi::Number::New(env, t.cur_nr));
      to.Set("curFd", Napi::Number::New(env, t.cur_fd));
      to.Set("curSinceNs", Num(env, t.cur_since_ns));
      threads.Set(static_cast<uint32_t>(i), to);
    }
    o.Set("threads", threads);
    Napi::Object folded = Napi::Object::New(env);
    folded.Set("threads", Num(env, c.folded.threads));
    SetThreadCounters(env, folded, c.folded.sum);
    o.Set("threadsFolded", folded);

    Napi::Array procs = Napi::Array::New(env, c.processes.size());
    for (size_t i = 0; i < c.processes.size(); i++) {
      const ProcessStat& p = c.processes[i];
      Napi::Object po = Napi::Object::New(env);
      po.Set("pid", Num(env, p.pid));
      po.Set("parentPid", Num(env, p.parent_pid));
      po.Set("execs", Num(env, p.execs));
      po.Set("exited", Napi::Boolean::New(env, p.exited));
      po.Set("exitCode", p.exited && !p.exit_signal ? Napi::Value(Napi::Number::New(env, p.exit_code)) : env.Null());
      po.Set("exitSignal", p.exit_signal ? Napi::Value(Napi::Number::New(env, p.exit_signal)) : env.Null());
      po.Set("coreDumped", Napi::Boolean::New(env, p.core_dumped));
      procs.Set(static_cast<uint32_t>(i), po);
    }
    o.Set("processes", procs);

    const Counters& k = c.counters;
    Napi::Object co = Napi::Object::New(env);
    co.Set("clones", Num(env, k.clones));
    co.Set("forks", Num(env, k.forks));
    co.Set("execs", Num(env, k.execs));
    co.Set("threadExits", Num(env, k.thread_exits));
    co.Set("signals", Num(env, k.signals));
    co.Set("groupStops", Num(env, k.group_stops));
    co.Set("unmatchedExits", Num(env, k.unmatched_exits));
    co.Set("foreignArch", Num(env, k.foreign_arch));
    co.Set("unknownNr", Num(env, k.unknown_nr));
    co.Set("fdOverflow", Num(env, k.fd_overflow));
    co.Set("threadOverflow", Num(env, k.thread_overflow));
    co.Set("processOverflow", Num(env, k.process_overflow));
    co.Set("uringOverflow", Num(env, k.uring_overflow));
    o.Set("counters", co);

    const io_stat& io = c.io;
    Napi::Object ioo = Napi::Object::New(env);
    ioo.Set("epollCtlAdd", Num(env, io.epoll_ctl_add));
    ioo.Set("epollCtlMod", Num(env, io.epoll_ctl_mod));
    ioo.Set("epollCtlDel", Num(env, io.epoll_ctl_del));
    ioo.Set("epollCtlEt", Num(env, io.epoll_ctl_et));
    ioo.Set("epollCtlOneshot", Num(env, io.epoll_ctl_oneshot));
    ioo.Set("epollCtlExclusive", Num(env, io.epoll_ctl_exclusive));
    ioo.Set("epollCtlUnread", Num(env, io.epoll_ctl_unread));
    ioo.Set("uringSetups", Num(env, io.uring_setups));
    ioo.Set("uringSetupFlags", Num(env, io.uring_setup_flags));
    ioo.Set("uringSqpoll", Num(env, io.uring_sqpoll));
    ioo.Set("uringSubmitted", Num(env, io.uring_submitted));
    ioo.Set("aioSubmitted", Num(env, io.aio_submitted));
    ioo.Set("mmapFile", Num(env, io.mmap_file));
    ioo.Set("mmapFileBytes", Num(env, io.mmap_file_bytes));
    ioo.Set("zerocopySends", Num(env, io.zerocopy_sends));
    ioo.Set("zerocopyBytes", Num(env, io.zerocopy_bytes));
    ioo.Set("nonblockSets", Num(env, io.nonblock_sets));
    ioo.Set("asyncSets", Num(env, io.async_sets));
    ioo.Set("setown", Num(env, io.setown));
    ioo.Set("setsig", Num(env, io.setsig));
    o.Set("io", ioo);

    Napi::Array ops = Napi::Array::New(env, c.uring_ops.size());
    for (size_t i = 0; i < c.uring_ops.size(); i++) {
      const uring_op_stat& u = c.uring_ops[i].second;
      Napi::Object uo = Napi::Object::New(env);
      uo.Set("opcode", Num(env, c.uring_ops[i].first));
      uo.Set("submitted", Num(env, u.submitted));
      uo.Set("completions", Num(env, u.completions));
      uo.Set("errors", Num(env, u.errors));
      uo.Set("eagain", Num(env, u.eagain));
      uo.Set("bytes", Num(env, u.bytes));
      uo.Set("totalNs", Num(env, u.total_ns));
      uo.Set("maxNs", Num(env, u.max_ns));
      Napi::Array lat = Napi::Array::New(env, IOT_LAT_BUCKETS);
      for (uint32_t b = 0; b < IOT_LAT_BUCKETS; b++) lat.Set(b, Num(env, u.lat_log2[b]));
      uo.Set("latLog2", lat);
      ops.Set(static_cast<uint32_t>(i), uo);
    }
    o.Set("uringOps", ops);
    return o;
  }

  std::unique_ptr<Collector> tracer_;
};

Napi::FunctionReference* TracerWrap::ctor = nullptr;

Napi::Value Wrap(Napi::Env env, std::unique_ptr<Collector> t) {
  Napi::Object obj = TracerWrap::ctor->New({});
  TracerWrap::Unwrap(obj)->Adopt(std::move(t));
  return obj;
}

bool WantsEbpf(const Napi::Object& o) { return o.Get("backend").ToString().Utf8Value() == "ebpf"; }

// attach(pid, { backend, seccomp, seccompNrs, extraPids })
Napi::Value Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject())
    throw Napi::TypeError::New(env, "Usage: attach(pid, options)");
  TraceError err;
  const pid_t pid = info[0].As<Napi::Number>().Int32Value();
  const TracerOptions opts = ParseOptions(info[1].As<Napi::Object>());
  std::unique_ptr<Collector> t;
  if (WantsEbpf(info[1].As<Napi::Object>())) t = EbpfTracer::Attach(pid, opts, &err);
  else t = Tracer::Attach(pid, opts, &err);
  if (err.code) throw MakeError(env, err);
  return Wrap(env, std::move(t));
}


// spawn(path, argv, envp, { seccomp, seccompNrs })
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsArray() || !info[3].IsObject())
    throw Napi::TypeError::New(env, "Usage: spawn(path, argv, envp, options)");
  SpawnSpec spec;
  spec.path = info[0].As<Napi::String>().Utf8Value();
  spec.argv = StringArray(info[1].As<Napi::Array>());
  spec.envp = StringArray(info[2].As<Napi::Array>());
  spec.stdout_to_stderr = info[3].As<Napi::Object>().Get("stdoutToStderr").ToBoolean().Value();
  TraceError err;
  const TracerOptions opts = ParseOptions(info[3].As<Napi::Object>());
  std::unique_ptr<Collector> t;
  if (WantsEbpf(info[3].As<Napi::Object>())) t = EbpfTracer::Spawn(spec, opts, &err);
  else t = Tracer::Spawn(spec, opts, &err);
  if (err.code) throw MakeError(env, err);
  return Wrap(env, std::move(t));
}

Napi::Value MonoNsJs(const Napi::CallbackInfo& info) { return Num(info.Env(), MonoNs()); }

Napi::Value TrimMallocJs(const Napi::CallbackInfo& info) {
  malloc_trim(0);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = TracerWrap::Init(env);
  TracerWrap::ctor = new Napi::FunctionReference(Napi::Persistent(cls));
  env.AddCleanupHook([] { TracerWrap::CleanupAll(); });
  exports.Set("attach", Napi::Function::New(env, Attach));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("monoNs", Napi::Function::New(env, MonoNsJs));
  exports.Set("trimMalloc", Napi::Function::New(env, TrimMallocJs));
  exports.Set("latBuckets", Napi::Number::New(env, IOT_LAT_BUCKETS));
  exports.Set("nrMax", Napi::Number::New(env, IOT_NR_MAX));
  exports.Set("waitKinds", Napi::Number::New(env, IOT_WAIT_KINDS));
  return exports;
}

}  // namespace
}  // namespace iotrace

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return iotrace::Init(env, exports); }

NODE_API_MODULE(iotrace, InitAddon)
