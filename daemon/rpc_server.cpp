#include "daemon/rpc_server.h"

#include "common/jsonrpc_request.h"
#include "common/monotonic_clock.h"
#include "daemon/event_json.h"
#include "daemon/peer_credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace probed {

using rpc::json;

namespace {

constexpr size_t kEventsPerRound = 4096; // keep requests answered during floods
// How long the RPC thread lets events gather while they flow (see run()).
constexpr int kFlowingPollMs = 1;

Result<void> make_parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return {};
    std::string dir = path.substr(0, slash);
    for (size_t i = 1; i <= dir.size(); ++i) {
        if (i != dir.size() && dir[i] != '/') continue;
        std::string part = dir.substr(0, i);
        if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
            return Error::from_errno("mkdir " + part);
    }
    return {};
}

} // namespace

RpcServer::RpcServer(TracerThread& tracer, EventQueue& events, DaemonInfo& info)
    : tracer_(tracer), events_(events), info_(info), methods_(tracer, events, info) {
    event_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    events_.set_notify_fd(event_fd_.get());
}

RpcServer::~RpcServer() {
    events_.set_notify_fd(-1);
    if (listen_fd_.valid() && !path_.empty()) unlink(path_.c_str());
}

Result<void> RpcServer::listen(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        return make_error(ErrorKind::InvalidArgument, "socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    PROBED_TRY(make_parent_dir(path));

    UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
        return make_error(ErrorKind::InvalidArgument, "a probed daemon is already running on " + path);
    unlink(path.c_str()); // stale socket from a daemon that died

    listen_fd_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listen_fd_.valid()) return Error::from_errno("socket");
    if (bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::from_errno("bind " + path);
    if (::listen(listen_fd_.get(), 64) != 0) return Error::from_errno("listen " + path);
    path_ = path;
    info_.socket_path = path;
    spdlog::info("listening on {}", path);
    return {};
}

Result<void> RpcServer::adopt(int fd) {
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        return Error::from_errno("passed socket " + std::to_string(fd));
    len = sizeof listening;
    if (type != SOCK_STREAM || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        !listening)
        return make_error(ErrorKind::InvalidArgument,
                          "passed socket " + std::to_string(fd) + " is not a listening stream socket");
    sockaddr_un addr{};
    len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || addr.sun_family != AF_UNIX)
        return make_error(ErrorKind::InvalidArgument,
                          "passed socket " + std::to_string(fd) + " is not a Unix socket");
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return Error::from_errno("fcntl passed socket");
    listen_fd_.reset(fd);
    // Abstract sockets start with a NUL byte; shown with '@' like ss(8) does.
    std::string path = addr.sun_path[0] ? std::string(addr.sun_path)
                                        : "@" + std::string(addr.sun_path + 1);
    info_.socket_path = path;
    spdlog::info("serving on {} (passed by the service manager)", path);
    return {};
}

void RpcServer::run(int stop_fd) {
    while (true) {
        std::vector<pollfd> fds;
        fds.push_back({stop_fd, POLLIN, 0});
        fds.push_back({listen_fd_.get(), POLLIN, 0});
        fds.push_back({event_fd_.get(), POLLIN, 0});
        for (const auto& w : watches_) fds.push_back({w.first, POLLIN, 0});
        const size_t first_client = fds.size();
        std::vector<uint64_t> ids;
        for (auto& [id, c] : clients_) {
            short want = POLLIN;
            if (!c->out.empty()) want |= POLLOUT;
            fds.push_back({c->sock.get(), want, 0});
            ids.push_back(id);
        }
        // While events flow we look again after a millisecond rather than
        // have the tracer thread wake us for each one: that wake-up is an
        // eventfd write on the hot path of every traced call. Once a round
        // finds none, we sleep until the next event wakes us; the timeout
        // then only catches drops counted in the queue while nothing
        // arrives, and with events already waiting we only look.
        int timeout = kFlowingPollMs;
        if (!events_flowing_) timeout = events_.arm_notify() ? 200 : 0;
        int n = poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR) {
            spdlog::error("poll: {}", std::strerror(errno));
            return;
        }
        if (fds[0].revents) {
            signalfd_siginfo si;
            (void)!read(stop_fd, &si, sizeof si);
            spdlog::info("signal {}: shutting down", si.ssi_signo);
            return;
        }
        report_status();
        if (fds[1].revents & POLLIN) accept_clients();
        if (fds[2].revents & POLLIN) {
            uint64_t count;
            (void)!read(event_fd_.get(), &count, sizeof count);
        }
        events_flowing_ = deliver_events() > 0;
        for (size_t i = 0; i < watches_.size(); ++i)
            if (fds[3 + i].revents) watches_[i].second();
        for (size_t i = 0; i < ids.size(); ++i) {
            auto it = clients_.find(ids[i]);
            if (it == clients_.end()) continue;
            ClientSession& c = *it->second;
            short rev = fds[first_client + i].revents;
            if (rev & (POLLIN | POLLHUP | POLLERR)) read_from(c);
            if (!c.out.empty()) flush(c);
            if (c.closing && (c.out.empty() || (rev & (POLLHUP | POLLERR)))) close_client(ids[i]);
        }
        report_drops();
    }
}

void RpcServer::accept_clients() {
    while (true) {
        int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        auto c = std::make_unique<ClientSession>(fd);
        c->id = next_client_id_++;
        auto peer = peer_credentials(fd);
        if (!peer) {
            // Without knowing who it is we cannot decide anything for it.
            spdlog::warn("client {} refused: {}", c->id, peer.error().message);
            continue;
        }
        c->peer = std::move(peer).value();
        spdlog::debug("client {} connected: pid {}, uid {}", c->id, c->peer.pid, c->peer.euid());
        status_dirty_ = true;
        clients_[c->id] = std::move(c);
        info_.clients = clients_.size();
    }
}

void RpcServer::read_from(ClientSession& c) {
    char buf[65536];
    while (true) {
        ssize_t n = recv(c.sock.get(), buf, sizeof buf, 0);
        if (n > 0) {
            c.in.append({buf, static_cast<size_t>(n)});
            while (auto line = c.in.next()) handle_line(c, *line);
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) c.closing = true;
        if (n < 0 && errno == EINTR) continue;
        return;
    }
}

void RpcServer::handle_line(ClientSession& c, const LineBuffer::Line& line) {
    auto answer = rpc::answer_line(line, [&](const json& id, const std::string& method,
                                             const json& params) {
        status_dirty_ = true;
        return methods_.handle(c, id, method, params);
    });
    if (answer) c.out += rpc::to_line(*answer);
}

void RpcServer::flush(ClientSession& c) {
    while (!c.out.empty()) {
        ssize_t n = send(c.sock.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.out.erase(0, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) {
            c.closing = true;
            c.out.clear();
        }
        return;
    }
}

bool RpcServer::wants(const ClientSession& c, const CallEvent& ev) const {
    if (!c.subscription) return false;
    const Subscription& sub = *c.subscription;
    if (ev.type != EventType::Exit) return sub.matches(ev.probe_id, ev.pid);
    if (sub.probe_ids.empty() && sub.pids.empty()) return true;
    if (sub.pids.count(ev.pid)) return true;
    for (uint64_t id : sub.probe_ids)
        if (methods_.pid_of_probe(id) == ev.pid) return true;
    return false;
}

size_t RpcServer::deliver_events() {
    std::vector<CallEvent> batch;
    events_.drain(batch, kEventsPerRound);
    for (const CallEvent& ev : batch) {
        if (observer_) observer_(ev);
        std::string line; // encoded once, only if someone wants it
        for (auto& [id, c] : clients_) {
            if (c->closing || !wants(*c, ev) || !methods_.may_see(*c, ev)) continue;
            if (c->out.size() > ClientSession::kMaxPendingEvents) {
                ++c->dropped[ev.probe_id];
                ++info_.events_dropped;
                methods_.count_client_drop(ev.probe_id, 1);
                continue;
            }
            // The gap is reported where it happened, before the next event.
            if (!c->dropped.empty()) append_drop_notices(*c);
            if (line.empty()) line = event_notification_line(ev);
            c->out += line;
            ++info_.events_delivered;
        }
        if (ev.type == EventType::ProbeLost) methods_.probe_lost(ev.probe_id);
        if (ev.type == EventType::Exit) {
            methods_.process_ended(ev.pid);
            status_dirty_ = true;
        }
    }
    return batch.size();
}

void RpcServer::report_drops() {
    // Events the daemon's own queue could not take, per probe.
    for (const auto& [probe, total] : events_.dropped_by_probe()) {
        uint64_t& seen = queue_drops_seen_[probe];
        if (total == seen) continue;
        for (auto& [id, c] : clients_)
            if (c->subscription && c->subscription->matches(probe, methods_.pid_of_probe(probe)) &&
                methods_.may_see_probe(*c, probe))
                c->dropped[probe] += total - seen;
        seen = total;
    }
    // Tell each client what it missed once it has room again.
    for (auto& [id, c] : clients_) {
        if (c->dropped.empty() || c->out.size() > ClientSession::kMaxPendingEvents) continue;
        append_drop_notices(*c);
        flush(*c);
    }
}

void RpcServer::append_drop_notices(ClientSession& c) {
    for (const auto& [probe, count] : c.dropped)
        c.out += rpc::to_line(rpc::notification("event", dropped_to_json(probe, count)));
    c.dropped.clear();
}

void RpcServer::close_client(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    methods_.client_gone(*it->second);
    spdlog::debug("client {} disconnected", id);
    clients_.erase(it);
    info_.clients = clients_.size();
    status_dirty_ = true;
}

void RpcServer::report_status() {
    if (!status_listener_ || !status_dirty_) return;
    uint64_t now = monotonic_ns();
    if (now - status_sent_ns_ < 1000000000ull) return;
    status_dirty_ = false;
    status_sent_ns_ = now;
    status_listener_(methods_.status_summary());
}

} // namespace probed
