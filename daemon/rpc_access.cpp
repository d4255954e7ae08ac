// Access control for RPC requests: which client may act on which process,
// see which events, remove which probes, and how much of the daemon it may
// hold. The decisions themselves are AccessPolicy's; this file finds the
// facts (the target's credentials, what the client's uid holds) and logs
// every verdict.
#include "daemon/rpc_methods.h"

#include <spdlog/spdlog.h>

namespace probed {

using rpc::json;

namespace {

// Requests that act on the process named by params.pid.
bool acts_on_pid(const std::string& method) {
    return method == "process.attach" || method == "process.detach" ||
           method == "process.resume" || method == "probe.add" || method == "stack.get";
}

// A well-formed pid, or nothing (the handler then reports the bad field).
std::optional<pid_t> pid_param(const json& params) {
    auto it = params.find("pid");
    if (it == params.end() || !it->is_number_integer()) return std::nullopt;
    int64_t v = it->get<int64_t>();
    if (v <= 0 || v > 0x7fffffff) return std::nullopt;
    return static_cast<pid_t>(v);
}

std::string describe(const ClientSession& c) {
    return "client " + std::to_string(c.id) + " (uid " + std::to_string(c.peer.euid()) + ", pid " +
           std::to_string(c.peer.pid) + ")";
}

rpc::RpcError permission_error(const std::string& what, const std::string& reason) {
    return {rpc::kPermission, "permission denied: " + what + ": " + reason,
            {{"kind", "permission"}, {"reason", reason}}};
}

rpc::RpcError limit_error(const std::string& what, const std::string& reason, size_t limit) {
    return {rpc::kRefused, what + " refused: " + reason,
            {{"kind", "limit"}, {"reason", reason}, {"limit", limit}}};
}

void log_decision(const ClientSession& c, const std::string& what, const AccessDecision& d) {
    if (d.allowed) spdlog::info("access: {} {}: allowed ({})", describe(c), what, d.reason);
    else spdlog::warn("access: {} {}: denied ({})", describe(c), what, d.reason);
}

} // namespace

std::optional<rpc::RpcError> RpcMethods::authorize(ClientSession& client, const std::string& method,
                                                   const json& params) {
    if (acts_on_pid(method)) {
        auto pid = pid_param(params);
        if (!pid) return std::nullopt;
        if (auto denied = authorize_pid(client, method, *pid)) return denied;
        if (method != "probe.add") return std::nullopt;
        size_t held = 0;
        for (const auto& [id, meta] : probes_) held += meta.uid == client.peer.euid();
        AccessDecision d = policy_.may_add_probe(client.peer, held);
        log_decision(client, "probe.add limit", d);
        if (!d.allowed) return limit_error("probe.add", d.reason, policy_.limits().max_probes);
        return std::nullopt;
    }
    if (method == "probe.remove") {
        auto it = params.find("probe_id");
        if (it == params.end() || !it->is_number_unsigned()) return std::nullopt;
        auto meta = probes_.find(it->get<uint64_t>());
        if (meta == probes_.end()) return std::nullopt; // the handler says "not found"
        std::string what = "probe.remove probe " + std::to_string(meta->first);
        bool mine = AccessPolicy::owns(client.peer, meta->second.uid);
        AccessDecision d{mine, mine ? "its own probe, or privileged"
                                    : "probe belongs to uid " + std::to_string(meta->second.uid)};
        log_decision(client, what, d);
        if (!d.allowed) return permission_error(what, d.reason);
        return std::nullopt;
    }
    if (method == "events.subscribe") return authorize_subscribe(client, params);
    return std::nullopt;
}

std::optional<rpc::RpcError> RpcMethods::authorize_pid(ClientSession& client,
                                                       const std::string& method, pid_t pid) {
    std::string what = method + " pid " + std::to_string(pid);
    AccessDecision d;
    if (AccessPolicy::privileged(client.peer)) {
        d = AccessPolicy::may_trace(client.peer, ProcessCredentials{});
    } else {
        auto target = read_process_credentials(pid);
        // A pid that does not exist is the handler's "not found", not ours.
        if (!target) return std::nullopt;
        d = AccessPolicy::may_trace(client.peer, *target);
    }
    log_decision(client, what, d);
    if (!d.allowed) return permission_error(what, d.reason);
    client.granted_pids.insert(pid);
    return std::nullopt;
}

std::optional<rpc::RpcError> RpcMethods::authorize_subscribe(ClientSession& client,
                                                             const json& params) {
    // Naming another user's probe is refused outright rather than filtered
    // silently, so the client learns why it hears nothing.
    auto ids = params.find("probe_ids");
    if (ids != params.end() && ids->is_array()) {
        for (const auto& v : *ids) {
            if (!v.is_number_unsigned()) continue;
            auto meta = probes_.find(v.get<uint64_t>());
            if (meta == probes_.end() || AccessPolicy::owns(client.peer, meta->second.uid)) continue;
            std::string what = "events.subscribe probe " + std::to_string(meta->first);
            AccessDecision d{false, "probe belongs to uid " + std::to_string(meta->second.uid)};
            log_decision(client, what, d);
            return permission_error(what, d.reason);
        }
    }
    const auto& mine = subscribers_[client.peer.euid()];
    size_t held = mine.size() - mine.count(client.id); // subscribing again replaces
    AccessDecision d = policy_.may_subscribe(client.peer, held);
    log_decision(client, "events.subscribe", d);
    if (!d.allowed) return limit_error("events.subscribe", d.reason, policy_.limits().max_subscriptions);
    return std::nullopt;
}

void RpcMethods::note_success(ClientSession& client, const std::string& method, const json& result) {
    if (method == "events.subscribe") subscribers_[client.peer.euid()].insert(client.id);
    else if (method == "events.unsubscribe") subscribers_[client.peer.euid()].erase(client.id);
    else if (method == "process.spawn") client.granted_pids.insert(result.at("pid").get<pid_t>());
}

bool RpcMethods::may_see_probe(const ClientSession& client, uint64_t probe_id) const {
    if (AccessPolicy::privileged(client.peer)) return true;
    auto meta = probes_.find(probe_id);
    return meta != probes_.end() && meta->second.uid == client.peer.euid();
}

bool RpcMethods::may_see(const ClientSession& client, const CallEvent& ev) const {
    if (AccessPolicy::privileged(client.peer)) return true;
    if (ev.type == EventType::Exit) return client.granted_pids.count(ev.pid) > 0;
    return may_see_probe(client, ev.probe_id);
}

bool RpcMethods::may_list(const ClientSession& client, pid_t pid) const {
    if (AccessPolicy::privileged(client.peer)) return true;
    auto target = read_process_credentials(pid);
    return target && AccessPolicy::may_trace(client.peer, *target).allowed;
}

} // namespace probed
