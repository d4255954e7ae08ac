#pragma once
// The one thread that owns the Engine and so every ptrace and waitpid call.
// Other threads hand it work with call(); it runs the work between tracee
// stops, so RPC handling and event encoding never happen on the hit path.
#include "daemon/engine.h"
#include "daemon/event_queue.h"

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <type_traits>

namespace probed {

class TracerThread {
public:
    // cpu >= 0 pins the tracer thread (and so the programs it spawns) to
    // that CPU: sharing a CPU with the tracee is the cheapest placement.
    explicit TracerThread(EventQueue& events, int cpu = -1);
    ~TracerThread(); // stop()
    TracerThread(const TracerThread&) = delete;
    TracerThread& operator=(const TracerThread&) = delete;

    // Runs fn(engine) on the tracer thread and returns its result.
    template <typename F> auto call(F&& fn) -> std::invoke_result_t<F, Engine&> {
        using R = std::invoke_result_t<F, Engine&>;
        auto task = std::make_shared<std::packaged_task<R(Engine&)>>(std::forward<F>(fn));
        auto fut = task->get_future();
        post([task](Engine& e) { (*task)(e); });
        wait_until_ready(fut);
        return fut.get();
    }

    // Detaches from every process (restoring them) and ends the thread.
    void stop();

private:
    void post(std::function<void(Engine&)> work);
    template <typename Fut> void wait_until_ready(Fut& fut) {
        // The wake signal can land just before the tracer enters waitpid and
        // be missed; repeating it bounds that to one period.
        while (fut.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
            wake();
            if (fut.wait_for(std::chrono::milliseconds(2)) == std::future_status::ready) break;
        }
    }
    void wake();
    void run(std::promise<void>& ready);
    bool run_pending(Engine& engine);

    EventQueue& events_;
    int cpu_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void(Engine&)>> work_;
    std::atomic<bool> stopping_{false};
    std::atomic<pid_t> tid_{0};
    std::atomic<bool> blocked_in_pump_{false};
    std::thread thread_;
};

} // namespace probed
