#include "client/event_stream.h"

#include "client/json_fields.h"
#include "common/unique_fd.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

namespace probed::client {

namespace {

using Clock = std::chrono::steady_clock;

// How long the daemon gets to deliver the last events and the `exit` event
// after the kernel told us (pidfd) that the process is gone.
constexpr auto kExitGrace = std::chrono::seconds(1);
// How long to wait for EOF on a relayed output whose writer has exited:
// only a grandchild that inherited it can hold it open longer.
constexpr auto kRelayDrainLimit = std::chrono::milliseconds(500);

// The pidfd is a safety net: if the daemon's subscription filter does not
// pass `exit` events for a probe_ids subscription, we still end the stream.
UniqueFd open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#else
    (void)pid;
    return UniqueFd();
#endif
}

bool is_ours(const nlohmann::json& event, const StreamSpec& spec) {
    std::string type = string_field(event, "type");
    if (type == "exit")
        return int_field(event, "pid") == spec.pid;
    auto probe = int_field(event, "probe_id");
    if (type == "dropped")
        return !probe || spec.probe_ids.empty() || spec.probe_ids.count(*probe);
    if (type == "entry" || type == "return")
        return spec.probe_ids.empty() || (probe && spec.probe_ids.count(*probe));
    return int_field(event, "pid") == spec.pid;
}

int millis_until(Clock::time_point deadline) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

} // namespace

Result<StreamStop> stream_events(RpcConnection& connection, SignalWatcher& watcher,
                                 EventPrinter& printer, const StreamSpec& spec,
                                 OutputRelay* relay) {
    using Reason = StreamStop::Reason;
    std::optional<Clock::time_point> end_of_duration;
    if (spec.duration_s)
        end_of_duration = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(*spec.duration_s));
    std::optional<Clock::time_point> end_of_grace;
    UniqueFd pidfd = open_pidfd(spec.pid);
    std::uint64_t counted = 0;

    for (;;) {
        while (connection.has_event()) {
            nlohmann::json event = connection.pop_event();
            if (!is_ours(event, spec))
                continue;
            std::string type = string_field(event, "type");
            if (type == "exit") {
                // The program's last words come before the line saying it ended.
                if (relay)
                    relay->drain(kRelayDrainLimit);
                if (spec.print)
                    printer.print(event);
                return StreamStop{Reason::TargetExited, std::move(event)};
            }
            if (spec.print && !printer.print(event))
                return StreamStop{Reason::OutputClosed, {}};
            if (type == spec.counted_type && spec.count && ++counted >= *spec.count)
                return StreamStop{Reason::Count, {}};
        }
        if (watcher.received() > 0)
            return StreamStop{Reason::Signal, {}};

        int timeout = -1;
        auto nearer = [&](std::optional<Clock::time_point> deadline) {
            if (!deadline)
                return;
            int ms = millis_until(*deadline);
            if (timeout < 0 || ms < timeout)
                timeout = ms;
        };
        nearer(end_of_duration);
        nearer(end_of_grace);
        if (end_of_duration && Clock::now() >= *end_of_duration)
            return StreamStop{Reason::Duration, {}};
        if (end_of_grace && Clock::now() >= *end_of_grace) {
            if (relay)
                relay->drain(kRelayDrainLimit);
            return StreamStop{Reason::TargetExited, {}};
        }

        std::vector<pollfd> fds = {{connection.fd(), POLLIN, 0},
                                   {watcher.fd(), POLLIN, 0},
                                   {end_of_grace ? -1 : pidfd.get(), POLLIN, 0}};
        if (relay)
            relay->add_pollfds(fds);
        int rc = ::poll(fds.data(), fds.size(), timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return Error::from_errno("poll");
        if (fds[1].revents & POLLIN)
            watcher.drain();
        if (fds[2].revents)
            end_of_grace = Clock::now() + kExitGrace;
        for (std::size_t i = 3; i < fds.size(); ++i)
            if (fds[i].revents)
                relay->pump(fds[i].fd);
        if (fds[0].revents)
            PROBED_TRY(connection.read_available());
    }
}

} // namespace probed::client
