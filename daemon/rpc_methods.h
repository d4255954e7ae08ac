#pragma once
// The JSON-RPC methods of docs/protocol.md: validate params, run the work on
// the tracer thread, shape the result. Runs on the RPC thread.
#include "common/jsonrpc.h"
#include "daemon/access_policy.h"
#include "daemon/client_session.h"
#include "daemon/event_queue.h"
#include "daemon/tracer_thread.h"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace probed {

class Collector;

struct DaemonInfo {
    std::string socket_path;
    uint64_t started_ns = 0;
    size_t clients = 0;
    uint64_t events_delivered = 0;
    uint64_t events_dropped = 0; // at subscribers (the queue counts its own)
    AccessLimits limits;         // per unprivileged client (uid)
};

class RpcMethods {
public:
    RpcMethods(TracerThread& tracer, EventQueue& queue, DaemonInfo& info);

    // The response (result or error) to one request.
    rpc::json handle(ClientSession& client, const rpc::json& id, const std::string& method,
                     const rpc::json& params);
    // The client disconnected: its client-owned probes go.
    void client_gone(ClientSession& client);

    // A traced process ended: its probes are gone from the engine too.
    void process_ended(pid_t pid) { forget_probes_of(pid); }
    void probe_lost(uint64_t probe_id) { probes_.erase(probe_id); }
    // The pid a probe belongs to (0 if unknown), for routing exit events.
    pid_t pid_of_probe(uint64_t probe_id) const;
    // Events a subscriber missed, per probe, reported in probe.list.
    void count_client_drop(uint64_t probe_id, uint64_t n) { client_drops_[probe_id] += n; }
    // Whether this client may receive this event (rpc_access.cpp).
    bool may_see(const ClientSession& client, const CallEvent& ev) const;
    bool may_see_probe(const ClientSession& client, uint64_t probe_id) const;
    // One line for the service manager: processes, probes, clients.
    std::string status_summary();

    // Enables probe.add's `collect` and stats.get (collector.h).
    void set_collector(Collector* collector) { collector_ = collector; }
    // Probes the daemon added itself (probes.d): listed with owner "daemon".
    void adopt_probe(uint64_t probe_id, pid_t pid) { probes_[probe_id] = ProbeMeta{pid, true, 0}; }
    void release_probe(uint64_t probe_id) { probes_.erase(probe_id); }

private:
    struct ProbeMeta {
        pid_t pid = 0;
        bool daemon_owned = false;
        uint64_t client_id = 0;
        uid_t uid = 0; // the creating client's euid: who may see and remove it
    };

    // Access control (rpc_access.cpp): the error refusing this request, if
    // any; every decision is logged.
    std::optional<rpc::RpcError> authorize(ClientSession& client, const std::string& method,
                                           const rpc::json& params);
    std::optional<rpc::RpcError> authorize_pid(ClientSession& client, const std::string& method,
                                               pid_t pid);
    std::optional<rpc::RpcError> authorize_subscribe(ClientSession& client, const rpc::json& params);
    // Bookkeeping once a request succeeded.
    void note_success(ClientSession& client, const std::string& method, const rpc::json& result);
    // Whether an unprivileged client may see this process in process.list.
    bool may_list(const ClientSession& client, pid_t pid) const;

    rpc::json daemon_status();
    rpc::json process_attach(const rpc::json& params);
    rpc::json process_detach(const rpc::json& params);
    rpc::json process_spawn(ClientSession& client, const rpc::json& params);
    rpc::json process_resume(ClientSession& client, const rpc::json& params);
    rpc::json process_list(const ClientSession& client);
    rpc::json probe_add(ClientSession& client, const rpc::json& params);
    rpc::json probe_remove(ClientSession& client, const rpc::json& params);
    rpc::json probe_list(const ClientSession& client);
    rpc::json stack_get(const rpc::json& params);
    rpc::json events_subscribe(ClientSession& client, const rpc::json& params);
    rpc::json stats_get(const rpc::json& params);
    void forget_probes_of(pid_t pid);

    TracerThread& tracer_;
    EventQueue& queue_;
    DaemonInfo& info_;
    std::map<uint64_t, ProbeMeta> probes_;
    std::map<uint64_t, uint64_t> client_drops_;
    Collector* collector_ = nullptr;
    AccessPolicy policy_;
    std::map<uid_t, std::set<uint64_t>> subscribers_; // uid -> client ids subscribed
};

} // namespace probed
