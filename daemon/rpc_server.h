#pragma once
// The Unix-socket side of probed: accepts clients, reads one JSON-RPC
// request per line, answers through RpcMethods, and fans events out to
// subscribers. One thread, poll()-driven; a slow or stuck client only ever
// costs its own buffer (bounded; its events are dropped and counted).
#include "common/result.h"
#include "common/unique_fd.h"
#include "daemon/client_session.h"
#include "daemon/event_queue.h"
#include "daemon/rpc_methods.h"
#include "daemon/tracer_thread.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace probed {

class RpcServer {
public:
    RpcServer(TracerThread& tracer, EventQueue& events, DaemonInfo& info);
    ~RpcServer();

    // Binds the socket. A live daemon already answering there is an error; a
    // stale socket file is replaced. The parent directory is created.
    Result<void> listen(const std::string& path);
    // Serves on a listening Unix stream socket someone else bound (systemd
    // socket activation). The socket file is theirs: never unlinked.
    Result<void> adopt(int fd);
    // Called (at most once a second, from run()) with a one-line summary
    // whenever clients, processes or probes may have changed.
    void on_status(std::function<void(const std::string&)> listener) {
        status_listener_ = std::move(listener);
    }
    // Serves until `stop_fd` (a signalfd for SIGTERM/SIGINT) is readable.
    void run(int stop_fd);

    // Service features plug in here, all run on this (the RPC) thread:
    // every event delivered is shown to `observer` first (the collector);
    // `on_ready` runs when `fd` is readable (exec notices, SIGHUP, timers).
    void set_event_observer(std::function<void(const CallEvent&)> observer) {
        observer_ = std::move(observer);
    }
    void add_watch(int fd, std::function<void()> on_ready) { watches_.push_back({fd, std::move(on_ready)}); }
    RpcMethods& methods() { return methods_; }

private:
    void accept_clients();
    void read_from(ClientSession& c);
    void handle_line(ClientSession& c, const LineBuffer::Line& line);
    void flush(ClientSession& c);
    // Returns how many events it took from the queue.
    size_t deliver_events();
    void report_drops();
    void append_drop_notices(ClientSession& c);
    bool wants(const ClientSession& c, const CallEvent& ev) const;
    void close_client(uint64_t id);
    void report_status();

    TracerThread& tracer_;
    EventQueue& events_;
    DaemonInfo& info_;
    RpcMethods methods_;
    std::string path_;
    UniqueFd listen_fd_;
    UniqueFd event_fd_;
    std::map<uint64_t, std::unique_ptr<ClientSession>> clients_;
    uint64_t next_client_id_ = 1;
    std::map<uint64_t, uint64_t> queue_drops_seen_;
    std::function<void(const CallEvent&)> observer_;
    std::vector<std::pair<int, std::function<void()>>> watches_;
    std::function<void(const std::string&)> status_listener_;
    bool status_dirty_ = true;
    // The last round took events: the stream is flowing (see run()).
    bool events_flowing_ = false;
    uint64_t status_sent_ns_ = 0;
};

} // namespace probed
