#pragma once
// One JSON-RPC 2.0 connection to probed (docs/protocol.md): a blocking Unix
// stream socket carrying one JSON object per line. Requests are sent one at
// a time; event notifications that arrive while a response is awaited are
// queued for the caller instead of being lost.
#include "common/result.h"
#include "common/unique_fd.h"

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace probed::client {

class SignalWatcher;

// Error codes of docs/protocol.md that the client acts on.
inline constexpr int kRpcInvalidParams = -32602;
inline constexpr int kRpcNotFound = -32000;
inline constexpr int kRpcProcessGone = -32003;

// The `error` member of a response: the daemon said no.
struct RpcError {
    int code = 0;
    std::string message;
    nlohmann::json data = nlohmann::json::object();
};

struct RpcReply {
    nlohmann::json result;
    std::optional<RpcError> error;

    bool ok() const { return !error.has_value(); }
};

class RpcConnection {
  public:
    // Our own limit on a line from the daemon: far above anything it should
    // send, low enough that a runaway peer cannot eat the memory.
    static constexpr std::size_t kMaxLine = 16u << 20;

    // Errors keep the connect() errno in sys_errno: ENOENT and ECONNREFUSED
    // mean "no daemon there" and let the caller start one.
    static Result<RpcConnection> connect(const std::string& socket_path);

    explicit RpcConnection(UniqueFd fd) : fd_(std::move(fd)) {}

    // Lets call() notice Ctrl-C while it waits: a second signal gives up.
    void set_signal_watcher(SignalWatcher* watcher) { watcher_ = watcher; }

    // Sends a request and waits for its response. A Result error means the
    // transport failed (the daemon went away); an RPC error is in the reply.
    Result<RpcReply> call(const std::string& method,
                          const nlohmann::json& params = nlohmann::json::object());

    int fd() const { return fd_.get(); }

    // Reads what the socket has (one read; call it when poll() says
    // readable) and queues the complete lines' notifications.
    Result<void> read_available();

    bool has_event() const { return !events_.empty(); }
    // The params of the oldest queued `event` notification.
    nlohmann::json pop_event();

    std::size_t malformed_lines() const { return malformed_lines_; }

  private:
    Result<void> send_line(const std::string& line);
    void take_line(std::string_view line);

    UniqueFd fd_;
    SignalWatcher* watcher_ = nullptr;
    std::string in_;
    std::deque<nlohmann::json> events_;
    std::int64_t next_id_ = 1;
    std::int64_t waiting_id_ = 0;
    // Responses by id; more than one only if a peer answers ahead.
    std::map<std::int64_t, nlohmann::json> replies_;
    std::size_t malformed_lines_ = 0;
};

// The message every command prints when read_available()/call() hit EOF.
inline constexpr const char* kConnectionClosed = "daemon closed the connection";

} // namespace probed::client
