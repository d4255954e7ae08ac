#include "daemon/tracer_thread.h"

#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sched.h>

#include <csignal>
#include <cstring>

namespace probed {

TracerThread::TracerThread(EventQueue& events, int cpu) : events_(events), cpu_(cpu) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, &ready] { run(ready); });
    started.wait();
}

TracerThread::~TracerThread() { stop(); }

void TracerThread::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    while (true) {
        wake();
        {
            std::unique_lock lock(mu_);
            cv_.notify_all();
        }
        // join() cannot time out; poll the thread's exit flag instead.
        if (tid_.load() == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    thread_.join();
}

void TracerThread::post(std::function<void(Engine&)> work) {
    {
        std::lock_guard lock(mu_);
        work_.push_back(std::move(work));
    }
    cv_.notify_all();
}

void TracerThread::wake() {
    pid_t tid = tid_.load();
    if (tid != 0 && blocked_in_pump_.load()) syscall(SYS_tgkill, getpid(), tid, Engine::kWakeSignal);
}

bool TracerThread::run_pending(Engine& engine) {
    bool any = false;
    while (true) {
        std::function<void(Engine&)> work;
        {
            std::lock_guard lock(mu_);
            if (work_.empty()) return any;
            work = std::move(work_.front());
            work_.pop_front();
        }
        work(engine);
        any = true;
    }
}

void TracerThread::run(std::promise<void>& ready) {
    // Only this thread takes the wake signal; SIGCHLD stays blocked as the
    // Engine requires (the daemon blocks it before starting threads).
    sigset_t wake_set;
    sigemptyset(&wake_set);
    sigaddset(&wake_set, Engine::kWakeSignal);
    pthread_sigmask(SIG_UNBLOCK, &wake_set, nullptr);
    pthread_setname_np(pthread_self(), "probed-tracer");
    if (cpu_ >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu_, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            spdlog::warn("cannot pin the tracer to CPU {}: {}", cpu_, std::strerror(errno));
    }
    {
        Engine engine(events_);
        tid_ = static_cast<pid_t>(syscall(SYS_gettid));
        ready.set_value();
        while (!stopping_) {
            run_pending(engine);
            if (stopping_) break;
            if (!engine.tracing_any()) {
                // Nothing traced: reap children we spawned and let go of.
                while (waitpid(-1, nullptr, __WALL | WNOHANG) > 0) {}
                std::unique_lock lock(mu_);
                cv_.wait_for(lock, std::chrono::milliseconds(200),
                             [this] { return !work_.empty() || stopping_.load(); });
                continue;
            }
            blocked_in_pump_ = true;
            // Re-check after announcing: work posted before this point is
            // seen here, work posted after gets a wake signal.
            bool pending;
            {
                std::lock_guard lock(mu_);
                pending = !work_.empty();
            }
            if (!pending && !stopping_) engine.pump(-1);
            blocked_in_pump_ = false;
        }
        run_pending(engine);
        engine.detach_all();
    }
    tid_ = 0;
}

} // namespace probed
