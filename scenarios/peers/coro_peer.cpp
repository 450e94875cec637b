// coro_peer: the stackless floor. A minimal C++20 coroutine scheduler written here, run on
// the suite's scenarios with their semantics, parameters and metrics, so that every
// figure can show what a stackful switch costs against a coroutine resume.
//
// The runtime (all in this file, nothing from sy::):
//   Task<T>     a coroutine's return type; lazily started, owns its frame until spawned.
//   spawn(t)    puts the task on the ready queue and returns its Join<T>.
//   co_await j  (a Join<T>) suspends until the task has finished, then gives its value or
//               rethrows its exception. The finishing task transfers control straight to
//               its joiner (symmetric transfer: a tail call, the stack does not grow).
//   yield()     goes to the back of the ready queue and transfers to the task at the front.
//   Channel<T>  unbuffered: a send completes when a receiver has taken the value.
//   Mutex       FIFO hand-off to the first waiter, no barging (as sy::Mutex).
//   sleep_until on one thread: a deadline heap the loop checks whenever control comes back.
// One thread: a ring buffer, no locks, no atomics on the hot path except join's state word.
// N threads (skynet, channel and mutex sweep carriers): the same ring under one std::mutex
// with a condition variable for idle threads, i.e. one shared FIFO queue like our `fifo`
// scheduler; Channel and Mutex then take a lock of their own.
//
// What a suspended task costs is its coroutine frame: a heap block sized by the compiler
// for the locals that live across a suspension. frame_kib_per_task reports it exactly
// (bytes the frames requested from operator new / frames created).
//
// Protocol: see peer_main.h.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <thread>
#include <vector>

#include "../lcg.h"
#include "../scenario.h"  // kLatenessQuantiles (a header of declarations only)
#include "peer_main.h"

namespace {

using namespace switchyard::peers;
using Clock = std::chrono::steady_clock;
using Handle = std::coroutine_handle<>;

double ns_since(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

// ---- frame accounting ------------------------------------------------------------------
//
// Per thread, plain adds (a few instructions on the spawn path); a scheduler thread adds
// its totals to the globals when it ends, so the run's sum is read after every thread
// has been joined.
thread_local std::int64_t tl_frame_bytes = 0, tl_frames = 0;
std::atomic<std::int64_t> g_frame_bytes{0}, g_frames{0};
void flush_frame_counts() {
  // relaxed: read by the main thread after joining this one (join orders them).
  g_frame_bytes.fetch_add(tl_frame_bytes, std::memory_order_relaxed);
  g_frames.fetch_add(tl_frames, std::memory_order_relaxed);
  tl_frame_bytes = tl_frames = 0;
}

// ---- the ready queue -------------------------------------------------------------------

// A growable FIFO ring of coroutine handles (capacity a power of two).
class Ring {
 public:
  Ring() : buf_(1024) {}
  bool empty() const { return head_ == tail_; }
  void push(Handle h) {
    if (tail_ - head_ == buf_.size()) grow();
    buf_[tail_++ & (buf_.size() - 1)] = h;
  }
  Handle pop() {
    if (empty()) return nullptr;
    return buf_[head_++ & (buf_.size() - 1)];
  }

 private:
  void grow() {
    std::vector<Handle> bigger(buf_.size() * 2);
    for (std::size_t i = 0; head_ + i != tail_; ++i) bigger[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    tail_ -= head_;
    head_ = 0;
    buf_.swap(bigger);
  }
  std::vector<Handle> buf_;
  std::size_t head_ = 0, tail_ = 0;
};

// ---- the scheduler ---------------------------------------------------------------------

class Scheduler {
 public:
  // A lock that is taken only when several threads share the scheduler: on one thread the
  // primitives pay a predictable branch, not a lock.
  class MaybeLock {
   public:
    explicit MaybeLock(std::mutex& m);
    ~MaybeLock() {
      if (locked_) m_.unlock();
    }

   private:
    std::mutex& m_;
    bool locked_;
  };

  bool multi() const { return threads_ > 1; }

  void push(Handle h) {
    if (!multi()) {
      ready_.push(h);
      return;
    }
    std::lock_guard lock(mutex_);
    ready_.push(h);
    if (idle_ > 0) cv_.notify_one();
  }

  // The next ready task, or a no-op coroutine (control goes back to the thread's loop).
  Handle next() {
    if (!multi()) {
      if (Handle h = ready_.pop()) return h;
      return std::noop_coroutine();
    }
    std::lock_guard lock(mutex_);
    if (Handle h = ready_.pop()) return h;
    return std::noop_coroutine();
  }

  void stop() {
    if (!multi()) {
      stopping_ = true;
      return;
    }
    std::lock_guard lock(mutex_);
    stopping_ = true;
    cv_.notify_all();
  }

  // Sleeping (one thread only; checked when the plan is made).
  void add_timer(Clock::time_point when, Handle h) { timers_.push({when, h}); }

  // Runs the loop on `threads` threads (this one and threads-1 helpers) until stop().
  void run(int threads) {
    threads_ = threads;
    stopping_ = false;
    std::vector<std::thread> helpers;
    for (int i = 1; i < threads; ++i)
      helpers.emplace_back([this] {
        loop_shared();
        flush_frame_counts();
      });
    if (threads > 1) loop_shared();
    else loop_single();
    for (auto& t : helpers) t.join();
    flush_frame_counts();
  }

 private:
  struct Timer {
    Clock::time_point when;
    Handle h;
    bool operator>(const Timer& o) const { return when > o.when; }
  };

  void loop_single() {
    while (!stopping_) {
      if (!timers_.empty()) wake_due_timers(ready_.empty());
      if (Handle h = ready_.pop()) {
        h.resume();
      } else if (timers_.empty()) {
        throw Failed("deadlock: no task is ready and none sleeps, but the root has not finished");
      }
    }
  }

  // Moves every due sleeper to the ready queue; when nothing else can run, first sleeps
  // until the earliest deadline.
  void wake_due_timers(bool idle) {
    if (idle) std::this_thread::sleep_until(timers_.top().when);
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.top().when <= now) {
      ready_.push(timers_.top().h);
      timers_.pop();
    }
  }

  void loop_shared() {
    for (;;) {
      Handle h;
      {
        std::unique_lock lock(mutex_);
        while (ready_.empty() && !stopping_) {
          ++idle_;
          cv_.wait(lock);
          --idle_;
        }
        if (stopping_) return;
        h = ready_.pop();
      }
      h.resume();
    }
  }

  int threads_ = 1;
  Ring ready_;  // guarded by mutex_ when threads_ > 1
  std::mutex mutex_;
  std::condition_variable cv_;
  int idle_ = 0;           // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_ when threads_ > 1
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
};

Scheduler g_sched;  // one scheduler per process; each repetition runs it once

Scheduler::MaybeLock::MaybeLock(std::mutex& m) : m_(m), locked_(g_sched.multi()) {
  if (locked_) m_.lock();
}

// ---- tasks and joins -------------------------------------------------------------------

// The join state word of a task: nobody waits (0), the task has finished (kDone), its
// Join was dropped (kDetached), or the address of the coroutine waiting in join.
constexpr std::uintptr_t kDone = 1, kDetached = 2;

struct PromiseBase {
  std::atomic<std::uintptr_t> state{0};
  std::exception_ptr error;
  bool stops_scheduler = false;  // the root task: its end ends the run

  static void* operator new(std::size_t n) {
    tl_frame_bytes += std::int64_t(n);
    ++tl_frames;
    return ::operator new(n);
  }
  static void operator delete(void* p, std::size_t n) { ::operator delete(p, n); }

  std::suspend_always initial_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }

  struct Final {
    bool await_ready() noexcept { return false; }
    template <class P>
    Handle await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      const bool root = p.stops_scheduler;
      if (root) g_sched.stop();
      // acq_rel: release publishes the result (and everything the task did) to whoever
      // reads kDone (join's acquire load or failed CAS); acquire pairs with the joiner's
      // release CAS, so its frame is ours to resume.
      const std::uintptr_t prev = p.state.exchange(kDone, std::memory_order_acq_rel);
      if (prev == kDetached) {
        h.destroy();
        return g_sched.next();
      }
      if (prev != 0) return Handle::from_address(reinterpret_cast<void*>(prev));
      // The root's end: back to the loop, which sees the stop.
      return root ? Handle(std::noop_coroutine()) : g_sched.next();
    }
    void await_resume() noexcept {}
  };
  Final final_suspend() noexcept { return {}; }
};

template <class T>
struct ValuePromise : PromiseBase {
  std::optional<T> value;
  void return_value(T v) { value.emplace(std::move(v)); }
  T take() { return std::move(*value); }
};
template <>
struct ValuePromise<void> : PromiseBase {
  void return_void() {}
  void take() {}
};

template <class T>
class Join;

template <class T>
class [[nodiscard]] Task {
 public:
  struct promise_type : ValuePromise<T> {
    Task get_return_object() { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
  };
  using H = std::coroutine_handle<promise_type>;
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Task(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();  // never spawned: it never ran
  }
  H release() { return std::exchange(h_, nullptr); }

 private:
  explicit Task(H h) : h_(h) {}
  H h_;
};

template <class T>
class [[nodiscard]] Join {
 public:
  using H = typename Task<T>::H;
  Join() = default;
  explicit Join(H h) : h_(h) {}
  Join(Join&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Join& operator=(Join&& o) noexcept {
    if (this != &o) {
      drop();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~Join() { drop(); }

  bool await_ready() const noexcept {
    // acquire: pairs with Final's release, so the result is visible.
    return h_.promise().state.load(std::memory_order_acquire) == kDone;
  }
  Handle await_suspend(Handle me) noexcept {
    std::uintptr_t expected = 0;
    // release: publishes our frame to the finisher (its acquire exchange). On failure the
    // task has finished: acquire pairs with its release, and we resume at once.
    if (h_.promise().state.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(me.address()),
                                                   std::memory_order_release, std::memory_order_acquire))
      return g_sched.next();  // `me` may already be running elsewhere: not touched again
    return me;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    return h_.promise().take();
  }

 private:
  // Frees the frame if the task has finished, or tells it to free itself when it does.
  void drop() {
    if (!h_) return;
    if (h_.promise().state.exchange(kDetached, std::memory_order_acq_rel) == kDone) h_.destroy();
    h_ = nullptr;
  }
  H h_{};
};

template <class T>
Join<T> spawn(Task<T> task) {
  auto h = task.release();
  g_sched.push(h);
  return Join<T>(h);
}

// Runs `root` to its end on `threads` threads and returns its value.
template <class T>
T run(Task<T> root, int threads) {
  auto h = root.release();
  h.promise().stops_scheduler = true;
  g_sched.push(h);
  Join<T> join(h);
  g_sched.run(threads);
  if (join.await_ready()) return join.await_resume();
  throw Failed("the scheduler stopped before the root task finished");
}

struct Yield {
  bool await_ready() noexcept { return false; }
  Handle await_suspend(Handle me) noexcept {
    g_sched.push(me);
    return g_sched.next();  // one thread: never empty, it holds `me` at least
  }
  void await_resume() noexcept {}
};
Yield yield() { return {}; }

struct SleepUntil {
  Clock::time_point when;
  bool await_ready() noexcept { return false; }
  Handle await_suspend(Handle me) {
    g_sched.add_timer(when, me);
    return g_sched.next();
  }
  void await_resume() noexcept {}
};

// A one-shot gate: tasks wait until it is opened (the mutex scenario's start line).
class Gate {
 public:
  auto wait() {
    struct Awaiter {
      Gate& g;
      bool await_ready() {
        Scheduler::MaybeLock lock(g.m_);
        return g.open_;
      }
      Handle await_suspend(Handle me) {
        {
          Scheduler::MaybeLock lock(g.m_);
          if (g.open_) return me;
          g.waiters_.push_back(me);
        }
        return g_sched.next();
      }
      void await_resume() {}
    };
    return Awaiter{*this};
  }
  void open() {
    std::vector<Handle> woken;
    {
      Scheduler::MaybeLock lock(m_);
      open_ = true;
      woken.swap(waiters_);
    }
    for (Handle h : woken) g_sched.push(h);
  }

 private:
  std::mutex m_;
  bool open_ = false;  // guarded by m_ on several threads
  std::vector<Handle> waiters_;
};

// Unbuffered channel. A sender that finds a waiting receiver hands it the value and goes
// on (the receiver is made ready); otherwise it parks with its value until a receiver
// takes it. close() wakes every waiting receiver with "closed" (nullopt).
template <class T>
class Channel {
  struct Waiter {
    Handle h;
    std::optional<T>* slot;  // receivers: where the value goes
    const T* value;          // senders: the value offered
  };

 public:
  auto send(T v) {
    struct Awaiter {
      Channel& c;
      T v;
      bool await_ready() { return false; }
      Handle await_suspend(Handle me) {
        Handle woken;
        {
          Scheduler::MaybeLock lock(c.m_);
          if (c.closed_) throw Failed("send on a closed channel");
          if (!c.receivers_.empty()) {
            Waiter r = c.receivers_.front();
            c.receivers_.pop_front();
            r.slot->emplace(std::move(v));
            woken = r.h;
          } else {
            c.senders_.push_back({me, nullptr, &v});
          }
        }
        if (woken) {
          g_sched.push(woken);
          return me;  // the value was taken: the sender goes on
        }
        return g_sched.next();
      }
      void await_resume() {}
    };
    return Awaiter{*this, std::move(v)};
  }

  auto receive() {
    struct Awaiter {
      Channel& c;
      std::optional<T> got;
      bool await_ready() { return false; }
      Handle await_suspend(Handle me) {
        Handle woken;
        {
          Scheduler::MaybeLock lock(c.m_);
          if (!c.senders_.empty()) {
            Waiter s = c.senders_.front();
            c.senders_.pop_front();
            got.emplace(*s.value);
            woken = s.h;
          } else if (c.closed_) {
            return me;  // got stays empty: closed
          } else {
            c.receivers_.push_back({me, &got, nullptr});
          }
        }
        if (woken) {
          g_sched.push(woken);
          return me;
        }
        return g_sched.next();
      }
      std::optional<T> await_resume() { return std::move(got); }
    };
    return Awaiter{*this, std::nullopt};
  }

  void close() {
    std::deque<Waiter> woken;
    {
      Scheduler::MaybeLock lock(m_);
      closed_ = true;
      woken.swap(receivers_);
    }
    for (auto& w : woken) g_sched.push(w.h);
  }

 private:
  std::mutex m_;
  bool closed_ = false;  // guarded by m_ on several threads
  std::deque<Waiter> senders_, receivers_;
};

// FIFO mutex: unlock hands ownership to the first waiter, which is made ready; nobody can
// take the lock in between (no barging), as sy::Mutex does.
class Mutex {
 public:
  auto lock() {
    struct Awaiter {
      Mutex& m;
      bool await_ready() {
        Scheduler::MaybeLock guard(m.m_);
        if (m.locked_) return false;
        m.locked_ = true;
        return true;
      }
      Handle await_suspend(Handle me) {
        {
          Scheduler::MaybeLock guard(m.m_);
          if (!m.locked_) {  // released since await_ready
            m.locked_ = true;
            return me;
          }
          m.waiters_.push_back(me);
        }
        return g_sched.next();
      }
      void await_resume() {}
    };
    return Awaiter{*this};
  }
  void unlock() {
    Handle next;
    {
      Scheduler::MaybeLock guard(m_);
      if (waiters_.empty()) {
        locked_ = false;
        return;
      }
      next = waiters_.front();  // ownership passes: locked_ stays true
      waiters_.pop_front();
    }
    g_sched.push(next);
  }

 private:
  std::mutex m_;
  bool locked_ = false;  // guarded by m_ on several threads
  std::deque<Handle> waiters_;
};

void reset_frame_counts() {
  g_frame_bytes.store(0, std::memory_order_relaxed);  // no scheduler thread runs now
  g_frames.store(0, std::memory_order_relaxed);
  tl_frame_bytes = tl_frames = 0;
}
double frame_kib_per_task() {
  const auto frames = g_frames.load(std::memory_order_relaxed);
  return frames ? double(g_frame_bytes.load(std::memory_order_relaxed)) / double(frames) / 1024.0 : 0.0;
}
const char* const kFrameNote =
    "frame_kib_per_task: bytes the coroutine frames requested from operator new / frames created "
    "(exact, deterministic within a build; malloc adds its 8-16 byte header on top); the memory a "
    "suspended task holds";

// ---- yield -------------------------------------------------------------------------------

Task<void> yielder(std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) co_await yield();
}

Task<double> yield_root(std::int64_t rounds) {
  auto a = spawn(yielder(rounds));
  auto b = spawn(yielder(rounds));
  const auto start = Clock::now();
  co_await a;
  co_await b;
  co_return ns_since(start);
}

Plan prepare_yield(Params& params) {
  params.integer("carriers", 1, 1, 1);
  const std::int64_t yields = params.integer("ops", 10'000'000, 2, 1'000'000'000) / 2 * 2;
  Plan plan;
  plan.notes.push_back(
      "one thread; two tasks each co_await yield() in a loop: the caller goes to the back of the FIFO "
      "ready queue and transfers (symmetric transfer) to the one at the front; ns_per_yield = wall "
      "time / yields (one one-way hand-off each)");
  plan.repetition = [yields](Report& report) {
    const double ns = run(yield_root(yields / 2), 1);
    report.metric("ns_per_yield", "ns", ns / double(yields));
  };
  return plan;
}

// ---- spawn_join --------------------------------------------------------------------------

Task<void> empty_task() { co_return; }

Task<double> spawn_join_root(std::int64_t ops) {
  const auto start = Clock::now();
  for (std::int64_t i = 0; i < ops; ++i) co_await spawn(empty_task());
  co_return ns_since(start);
}

Plan prepare_spawn_join(Params& params) {
  params.integer("carriers", 1, 1, 1);
  const std::int64_t ops = params.integer("ops", 2'000'000, 1, 1'000'000'000);
  Plan plan;
  plan.notes.push_back(
      "one thread; spawn(empty task) then co_await its Join, one at a time: a frame allocation, a "
      "push on the ready queue, a transfer in and a transfer back at its end, the frame freed");
  plan.repetition = [ops](Report& report) {
    const double ns = run(spawn_join_root(ops), 1);
    report.metric("ns_per_spawn_join", "ns", ns / double(ops));
  };
  return plan;
}

// ---- skynet ------------------------------------------------------------------------------

// Live-task counting as the other peers do it: a counter pair per thread on its own cache
// line, the sum sampled by every 1024th leaf (a close lower bound of the peak).
struct alignas(64) LiveSlot {
  std::atomic<std::int64_t> spawned{0}, finished{0};
};
constexpr int kMaxCarriers = 64;
std::array<LiveSlot, kMaxCarriers> live_slots;
std::atomic<int> next_slot{0};
std::atomic<std::int64_t> live_peak{0};
thread_local int tl_slot = -1;

LiveSlot& my_slot() {
  // relaxed: only hands out distinct indices.
  if (tl_slot < 0) tl_slot = next_slot.fetch_add(1, std::memory_order_relaxed) % kMaxCarriers;
  return live_slots[tl_slot];
}
void sample_live() {
  std::int64_t live = 0;
  for (auto& s : live_slots)
    live += s.spawned.load(std::memory_order_relaxed) - s.finished.load(std::memory_order_relaxed);
  std::int64_t peak = live_peak.load(std::memory_order_relaxed);
  // relaxed: a running maximum read after the run's threads are joined.
  while (live > peak && !live_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

Task<std::uint64_t> skynet(std::uint64_t num, std::uint64_t size) {
  if (size == 1) {
    if (num % 1024 == 0) sample_live();
    // relaxed: counters, only sampled.
    my_slot().finished.fetch_add(1, std::memory_order_relaxed);
    co_return num;
  }
  std::array<Join<std::uint64_t>, 10> children;
  const std::uint64_t step = size / 10;
  for (std::uint64_t i = 0; i < 10; ++i) {
    my_slot().spawned.fetch_add(1, std::memory_order_relaxed);
    children[i] = spawn(skynet(num + i * step, step));
  }
  std::uint64_t total = 0;
  for (auto& c : children) total += co_await c;
  my_slot().finished.fetch_add(1, std::memory_order_relaxed);
  co_return total;
}

Plan prepare_skynet(Params& params) {
  const std::int64_t leaves = params.integer("fibers", 1'000'000, 1, 100'000'000);
  const std::int64_t carriers = params.integer("carriers", 2, 1, kMaxCarriers);
  std::int64_t power = 1;
  while (power < leaves) power *= 10;
  if (power != leaves) throw UsageError("fibers=" + std::to_string(leaves) + ": must be a power of 10");
  Plan plan;
  plan.notes.push_back("fan-out 10, children joined in order; " + std::to_string(carriers) +
                       (carriers == 1 ? " thread, FIFO ready queue (the whole tree is alive at once, as with "
                                        "our fifo variants)"
                                      : " threads sharing one FIFO ready queue under a std::mutex (idle threads "
                                        "wait on a condition variable)") +
                       "; time_s: the threads' start, the tree and their stop");
  plan.notes.push_back(
      "peak_live_fibers: tasks spawned minus finished (plus the root), sampled by every 1024th leaf (a close "
      "lower bound)");
  plan.notes.push_back(kFrameNote);
  plan.repetition = [leaves, carriers](Report& report) {
    for (auto& s : live_slots) {  // relaxed: no scheduler thread runs now
      s.spawned.store(0, std::memory_order_relaxed);
      s.finished.store(0, std::memory_order_relaxed);
    }
    my_slot().spawned.fetch_add(1, std::memory_order_relaxed);  // the root
    live_peak.store(0, std::memory_order_relaxed);
    reset_frame_counts();
    const auto start = Clock::now();
    const std::uint64_t result = run(skynet(0, std::uint64_t(leaves)), int(carriers));
    const double seconds = ns_since(start) / 1e9;
    const std::uint64_t expected = std::uint64_t(leaves) * std::uint64_t(leaves - 1) / 2;
    if (result != expected)
      throw Failed("skynet result " + std::to_string(result) + ", expected " + std::to_string(expected));
    report.metric("time_s", "s", seconds);
    report.metric("peak_live_fibers", "count", live_peak.load(std::memory_order_relaxed));
    report.metric("frame_kib_per_task", "KiB", frame_kib_per_task());
  };
  return plan;
}

// ---- channel -----------------------------------------------------------------------------

Task<std::int64_t> echo(Channel<std::int64_t>& ping, Channel<std::int64_t>& pong) {
  std::int64_t n = 0;
  while (auto v = co_await ping.receive()) {
    ++n;
    co_await pong.send(*v + 1);
  }
  co_return n;
}

Task<double> channel_root(std::int64_t rounds) {
  Channel<std::int64_t> ping, pong;
  auto e = spawn(echo(ping, pong));
  std::int64_t v = 0;
  const auto start = Clock::now();
  for (std::int64_t i = 0; i < rounds; ++i) {
    co_await ping.send(v);
    v = *co_await pong.receive();  // pong is never closed
  }
  const double ns = ns_since(start);
  ping.close();
  const std::int64_t echoed = co_await e;
  if (echoed != rounds || v != rounds)
    throw Failed("channel ping-pong: " + std::to_string(echoed) + " echoes, value " + std::to_string(v) +
                 ", expected " + std::to_string(rounds));
  co_return ns;
}

Plan prepare_channel(Params& params) {
  const std::int64_t handoffs = params.integer("ops", 1'000'000, 2, 1'000'000'000) / 2 * 2;
  const std::int64_t carriers = params.integer("carriers", 1, 1, kMaxCarriers);
  Plan plan;
  plan.notes.push_back(
      "two tasks, unbuffered Channel<int64_t> ping and pong; ns_per_handoff = wall time / (2 x round "
      "trips), timed over the round trips only; " +
      std::to_string(carriers) + (carriers == 1 ? " thread" : " threads sharing one FIFO ready queue"));
  plan.repetition = [handoffs, carriers](Report& report) {
    const double ns = run(channel_root(handoffs / 2), int(carriers));
    report.metric("ns_per_handoff", "ns", ns / double(handoffs));
  };
  return plan;
}

// ---- mutex -------------------------------------------------------------------------------

using sy::scenarios::kLcgA;
using sy::scenarios::kLcgC;
using sy::scenarios::lcg_skip;

struct MutexShared {
  Mutex mu;
  Gate gate;
  std::int64_t count = 0;    // guarded by mu
  std::uint64_t shared = 1;  // guarded by mu
  std::vector<std::uint64_t> sinks;
};

Task<void> mutex_worker(MutexShared& s, std::int64_t t, std::int64_t mine, std::int64_t inside,
                        std::int64_t outside) {
  co_await s.gate.wait();
  std::uint64_t local = std::uint64_t(t) + 1;
  for (std::int64_t i = 0; i < mine; ++i) {
    co_await s.mu.lock();
    ++s.count;
    for (std::int64_t k = 0; k < inside; ++k) s.shared = s.shared * kLcgA + kLcgC;
    s.mu.unlock();
    for (std::int64_t k = 0; k < outside; ++k) local = local * kLcgA + kLcgC;
  }
  s.sinks[std::size_t(t)] = local;  // keeps the private work observable
}

Task<double> mutex_root(std::int64_t tasks, std::int64_t ops, std::int64_t inside, std::int64_t outside) {
  MutexShared s;
  s.sinks.resize(std::size_t(tasks));
  std::vector<Join<void>> workers;
  workers.reserve(std::size_t(tasks));
  for (std::int64_t t = 0; t < tasks; ++t)
    workers.push_back(spawn(mutex_worker(s, t, ops / tasks + (t < ops % tasks ? 1 : 0), inside, outside)));
  const auto start = Clock::now();
  s.gate.open();
  for (auto& w : workers) co_await w;
  const double ns = ns_since(start);
  if (s.count != ops || s.shared != lcg_skip(1, std::uint64_t(ops * inside)))
    throw Failed("mutex: " + std::to_string(s.count) + " critical sections (expected " + std::to_string(ops) +
                 "), shared state " + (s.shared == lcg_skip(1, std::uint64_t(ops * inside)) ? "right" : "wrong"));
  co_return ns;
}

Plan prepare_mutex(Params& params) {
  const std::int64_t tasks = params.integer("fibers", 100, 1, 100'000);
  const std::int64_t carriers = params.integer("carriers", 2, 1, kMaxCarriers);
  const std::int64_t ops = params.integer("ops", 1'000'000, 1, 1'000'000'000);
  const std::int64_t inside = params.integer("inside", 4, 0, 1000);
  const std::int64_t outside = params.integer("outside", 16, 0, 100'000);
  if (tasks > ops) throw UsageError("fibers > ops: every task needs at least one iteration");
  Plan plan;
  plan.notes.push_back(std::to_string(tasks) + " tasks on " + std::to_string(carriers) +
                       " threads share ops iterations of: co_await Mutex::lock (FIFO hand-off, no barging), " +
                       std::to_string(inside) + " steps of a shared LCG, unlock, " + std::to_string(outside) +
                       " steps of a private LCG; ns_per_lock = wall time / ops, time_s = wall time; spawning "
                       "is outside the timed section (the tasks wait on a gate)");
  plan.repetition = [=](Report& report) {
    const double ns = run(mutex_root(tasks, ops, inside, outside), int(carriers));
    report.metric("ns_per_lock", "ns", ns / double(ops));
    report.metric("time_s", "s", ns / 1e9);
  };
  return plan;
}

// ---- timers ------------------------------------------------------------------------------

// The scenario's percentile (nearest rank), as scenarios/registry.cpp computes it.
double percentile_sorted(const std::vector<double>& s, double p) {
  if (s.empty()) return 0;
  auto rank = std::size_t(std::ceil(p / 100.0 * double(s.size())));
  return s[std::clamp<std::size_t>(rank, 1, s.size()) - 1];
}

Task<void> sleeper(std::vector<double>& late_us, std::int32_t sleep_us, std::size_t i) {
  const auto deadline = Clock::now() + std::chrono::microseconds(sleep_us);
  co_await SleepUntil{deadline};
  late_us[i] = std::chrono::duration<double, std::micro>(Clock::now() - deadline).count();
}

Task<int> timers_root(std::vector<double>& late_us, const std::vector<std::int32_t>& sleep_us) {
  std::vector<Join<void>> sleepers;
  sleepers.reserve(late_us.size());
  for (std::size_t i = 0; i < late_us.size(); ++i) sleepers.push_back(spawn(sleeper(late_us, sleep_us[i], i)));
  for (auto& s : sleepers) co_await s;
  co_return 0;
}

Plan prepare_timers(Params& params) {
  const std::int64_t tasks = params.integer("fibers", 100'000, 1, 10'000'000);
  const std::int64_t max_ms = params.integer("max_ms", 200, 0, 60'000);
  const std::int64_t carriers = params.integer("carriers", 1, 1, kMaxCarriers);
  if (carriers != 1)
    throw Skipped("the coro peer's timers run on one thread (its deadline heap is not shared)");
  Plan plan;
  plan.notes.push_back(
      "one thread; each task sleeps a uniform random 0.." + std::to_string(max_ms) +
      " ms (the draws of the timers scenario: mt19937_64 seeded 0x5EED0000 + repetition) from its first "
      "run; lateness = wake time - deadline; a binary deadline heap, the thread sleeps until the earliest "
      "deadline when no task is ready");
  plan.notes.push_back(kFrameNote);
  auto rep = std::make_shared<int>(-1);  // the warm-up draws with repetition 0's seed too
  plan.repetition = [tasks, max_ms, rep](Report& report) {
    const unsigned r = unsigned(std::max(0, *rep));
    ++*rep;
    const auto n = std::size_t(tasks);
    std::vector<double> late_us(n);
    std::vector<std::int32_t> sleep_us(n);
    std::mt19937_64 rng(0x5EED0000u + r);
    std::uniform_int_distribution<std::int32_t> dist(0, std::int32_t(max_ms * 1000));
    for (auto& s : sleep_us) s = dist(rng);
    reset_frame_counts();
    const auto start = Clock::now();
    run(timers_root(late_us, sleep_us), 1);
    const double seconds = ns_since(start) / 1e9;
    std::sort(late_us.begin(), late_us.end());
    report.metric("lateness_p50_us", "us", percentile_sorted(late_us, 50));
    report.metric("lateness_p99_us", "us", percentile_sorted(late_us, 99));
    report.metric("lateness_max_us", "us", late_us.back());
    // The whole distribution, at the quantiles the variants record, in ns.
    const auto& qs = sy::scenarios::kLatenessQuantiles;
    std::vector<double> row;
    for (double q : qs) row.push_back(1000.0 * percentile_sorted(late_us, q * 100));
    report.quantiles("lateness_quantiles_ns", qs, std::move(row));
    report.metric("time_s", "s", seconds);
    report.metric("frame_kib_per_task", "KiB", frame_kib_per_task());
  };
  return plan;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Scenario> scenarios = {
      {"yield", "two C++20 coroutines alternating through a FIFO ready queue (symmetric transfer)", prepare_yield},
      {"spawn_join", "spawn an empty coroutine task and co_await its join", prepare_spawn_join},
      {"skynet", "fan-out-10 coroutine tree on 1..N threads sharing a FIFO queue", prepare_skynet},
      {"channel", "unbuffered coroutine channel ping-pong between two tasks", prepare_channel},
      {"mutex", "coroutine tasks contending for a FIFO hand-off mutex", prepare_mutex},
      {"timers", "sleeping coroutine tasks with random deadlines: wake lateness", prepare_timers},
      {"switch", "a coroutine has no context switch of its own: yield measures a resume through the queue",
       nullptr},
      {"io_pingpong", "the coroutine scheduler has no I/O poller (the asio peer is the coroutine I/O runtime)",
       nullptr},
      {"http", "no HTTP server: the asio peer (Boost.Beast on C++20 coroutines) is the stackless server", nullptr},
  };
  return run_peer(argc, argv, "coro", scenarios);
}
