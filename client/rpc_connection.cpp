#include "client/rpc_connection.h"

#include "client/json_fields.h"
#include "client/signal_watcher.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace probed::client {

Result<RpcConnection> RpcConnection::connect(const std::string& socket_path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path)
        return make_error(ErrorKind::InvalidArgument, "socket path too long (max " +
                                                          std::to_string(sizeof addr.sun_path - 1) +
                                                          " bytes): " + socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid())
        return Error::from_errno("socket");
    int rc;
    do {
        rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0)
        return Error::from_errno("cannot connect to " + socket_path);
    return RpcConnection(std::move(fd));
}

Result<void> RpcConnection::send_line(const std::string& line) {
    std::size_t done = 0;
    while (done < line.size()) {
        // MSG_NOSIGNAL: a daemon that went away is an error to report, not SIGPIPE.
        ssize_t n = ::send(fd_.get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            return make_error(ErrorKind::Io, kConnectionClosed);
        if (n < 0)
            return Error::from_errno("write to daemon");
        done += static_cast<std::size_t>(n);
    }
    return {};
}

void RpcConnection::take_line(std::string_view line) {
    if (line.empty())
        return;
    auto msg = nlohmann::json::parse(line, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) {
        ++malformed_lines_;
        return;
    }
    if (msg.contains("method")) {
        if (string_field(msg, "method") == "event") {
            auto params = msg.find("params");
            events_.push_back(params != msg.end() ? *params : nlohmann::json::object());
        }
        return; // other notifications: none defined yet, nothing to do
    }
    auto id = msg.find("id");
    if (id == msg.end()) {
        ++malformed_lines_;
        return;
    }
    // A parse-error response carries id null: it can only be about the
    // request we are waiting for, since we send one at a time.
    if (id->is_null() && waiting_id_ != 0) {
        replies_[waiting_id_] = std::move(msg);
        return;
    }
    auto n = int_field(msg, "id");
    std::int64_t oldest_wanted = waiting_id_ != 0 ? waiting_id_ : next_id_;
    if (n && *n >= oldest_wanted && *n < next_id_)
        replies_[*n] = std::move(msg);
    // Anything else answers a request we gave up on: drop it.
}

Result<void> RpcConnection::read_available() {
    char buf[64 * 1024];
    ssize_t n;
    do {
        n = ::read(fd_.get(), buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return make_error(ErrorKind::Io, kConnectionClosed);
    if (n < 0)
        return Error::from_errno("read from daemon");

    std::size_t scanned = in_.size();
    in_.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = in_.find('\n', scanned)) != std::string::npos; scanned = start) {
        take_line(std::string_view(in_).substr(start, nl - start));
        start = nl + 1;
    }
    in_.erase(0, start); // once per read, not per line: event bursts stay linear
    if (in_.size() > kMaxLine)
        return make_error(ErrorKind::Io, "daemon sent a line longer than 16 MiB");
    return {};
}

Result<RpcReply> RpcConnection::call(const std::string& method, const nlohmann::json& params) {
    std::int64_t id = next_id_++;
    nlohmann::json request = {
        {"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
    PROBED_TRY(send_line(dump_json(request) + '\n'));

    waiting_id_ = id;
    auto found = replies_.end();
    while ((found = replies_.find(id)) == replies_.end()) {
        pollfd fds[2] = {{fd_.get(), POLLIN, 0}, {watcher_ ? watcher_->fd() : -1, POLLIN, 0}};
        int rc = ::poll(fds, 2, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            waiting_id_ = 0;
            return Error::from_errno("poll");
        }
        if (fds[1].revents & POLLIN) {
            watcher_->drain();
            if (watcher_->received() >= 2) {
                waiting_id_ = 0;
                return make_error(ErrorKind::Io, "interrupted");
            }
        }
        if (fds[0].revents) {
            auto r = read_available();
            if (!r) {
                waiting_id_ = 0;
                return std::move(r).error();
            }
        }
    }
    waiting_id_ = 0;
    nlohmann::json msg = std::move(found->second);
    replies_.erase(found);

    RpcReply reply;
    auto err = msg.find("error");
    if (err != msg.end() && !err->is_null()) {
        RpcError e;
        e.code = static_cast<int>(int_field(*err, "code").value_or(0));
        e.message = string_field(*err, "message", "error " + std::to_string(e.code));
        if (auto data = err->find("data"); data != err->end())
            e.data = *data;
        reply.error = std::move(e);
    } else if (auto res = msg.find("result"); res != msg.end()) {
        reply.result = *res;
    }
    return reply;
}

nlohmann::json RpcConnection::pop_event() {
    nlohmann::json ev = std::move(events_.front());
    events_.pop_front();
    return ev;
}

} // namespace probed::client
