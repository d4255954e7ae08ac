#include "daemon/service_features.h"

#include "common/monotonic_clock.h"

#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <csignal>

namespace probed {

namespace {

constexpr unsigned kRetryTickMs = 20;

} // namespace

ServiceFeatures::ServiceFeatures(TracerThread& tracer, EventQueue& events, ServiceOptions options)
    : tracer_(tracer), events_(events), options_(std::move(options)) {}

ServiceFeatures::~ServiceFeatures() {
    // Saved before the tracer lets go of the processes: nothing more will
    // be collected after this anyway.
    if (collector_) collector_->stop();
}

void ServiceFeatures::install(RpcServer& server) {
    collector_ = std::make_unique<Collector>(events_, options_.collect);
    if (auto r = collector_->start(); !r) {
        spdlog::error("collection is off: state dir {}: {}", options_.collect.state_dir, r.error().message);
        collector_.reset();
        return;
    }
    spdlog::info("collecting into {}", options_.collect.state_dir);
    server.methods().set_collector(collector_.get());
    Collector* collector = collector_.get();

    if (!options_.probes_dir.empty()) {
        configured_ = std::make_unique<ConfiguredProbes>(tracer_, server.methods(), *collector_, options_.probes_dir);
        auto conn = ProcConnector::open();
        if (conn) {
            connector_.emplace(std::move(*conn));
            server.add_watch(connector_->fd(), [this] {
                bool overrun = false;
                for (pid_t pid : connector_->read_execs(overrun)) configured_->on_exec(pid);
                if (overrun) configured_->scan(); // the kernel dropped some: look at everything
                if (configured_->has_retries()) arm_timer(kRetryTickMs);
            });
        } else {
            spdlog::warn("no exec notices ({}): new processes are found by scanning /proc every {} ms",
                         conn.error().message, options_.scan_interval_ms);
        }
        sigset_t hup;
        sigemptyset(&hup);
        sigaddset(&hup, SIGHUP);
        sighup_fd_.reset(signalfd(-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC));
        server.add_watch(sighup_fd_.get(), [this] {
            signalfd_siginfo si;
            while (read(sighup_fd_.get(), &si, sizeof si) == sizeof si) {}
            spdlog::info("SIGHUP: reloading {}", options_.probes_dir);
            configured_->reload();
        });
        timer_fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
        server.add_watch(timer_fd_.get(), [this] { on_timer(); });
        configured_->reload();
        next_scan_ns_ = monotonic_ns() + options_.scan_interval_ms * 1000000ull;
        arm_timer(configured_->has_retries() ? kRetryTickMs : options_.scan_interval_ms);
    }

    server.set_event_observer([this, collector](const CallEvent& ev) {
        collector->offer(ev);
        if (ev.type == EventType::Exit && configured_) configured_->on_exit(ev.pid);
    });
}

void ServiceFeatures::on_timer() {
    uint64_t expirations;
    (void)!read(timer_fd_.get(), &expirations, sizeof expirations);
    if (configured_->has_retries()) configured_->retry();
    uint64_t now = monotonic_ns();
    if (now >= next_scan_ns_) {
        configured_->scan();
        next_scan_ns_ = now + options_.scan_interval_ms * 1000000ull;
    }
    arm_timer(configured_->has_retries() ? kRetryTickMs : options_.scan_interval_ms);
}

void ServiceFeatures::arm_timer(unsigned ms) {
    itimerspec its{};
    its.it_value.tv_sec = ms / 1000;
    its.it_value.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
    timerfd_settime(timer_fd_.get(), 0, &its, nullptr);
}

} // namespace probed
