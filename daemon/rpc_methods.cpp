#include "daemon/rpc_methods.h"

#include "common/monotonic_clock.h"
#include "common/remote_ptr.h"
#include "daemon/collector.h"
#include "daemon/stack_json.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>

namespace probed {

using rpc::json;

namespace {

// Thrown only inside this file, from parameter checks and engine errors, and
// turned into an error response by handle(): it keeps every handler a
// straight line of "get this field, do that".
struct RpcFailure {
    rpc::RpcError error;
};

[[noreturn]] void invalid_param(const std::string& field, const std::string& expected) {
    throw RpcFailure{{rpc::kInvalidParams, "invalid params: '" + field + "' must be " + expected,
                      {{"field", field}, {"expected", expected}}}};
}

bool optional_bool(const json& params, const char* name) {
    auto it = params.find(name);
    if (it == params.end() || it->is_null()) return false;
    if (!it->is_boolean()) invalid_param(name, "a boolean");
    return it->get<bool>();
}

[[noreturn]] void fail(const Error& e) {
    rpc::RpcError out;
    out.message = e.message;
    out.data = {{"kind", error_kind_name(e.kind)}};
    if (e.sys_errno) out.data["errno"] = e.sys_errno;
    switch (e.kind) {
    case ErrorKind::NotFound: out.code = rpc::kNotFound; break;
    case ErrorKind::Unsupported:
    case ErrorKind::Ambiguous: out.code = rpc::kRefused; break;
    case ErrorKind::Permission: out.code = rpc::kPermission; break;
    case ErrorKind::ProcessGone: out.code = rpc::kProcessGone; break;
    case ErrorKind::InvalidArgument: out.code = rpc::kInvalidParams; break;
    default: out.code = rpc::kInternal; break;
    }
    throw RpcFailure{std::move(out)};
}

template <typename T> T unwrap(Result<T> r) {
    if (!r) fail(r.error());
    return std::move(r).value();
}

void unwrap(Result<void> r) {
    if (!r) fail(r.error());
}

const json& field(const json& params, const char* name) {
    static const json missing;
    auto it = params.find(name);
    return it == params.end() ? missing : *it;
}

pid_t get_pid(const json& params, const char* name = "pid") {
    const json& v = field(params, name);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > 0x7fffffff)
        invalid_param(name, "a positive integer pid");
    return static_cast<pid_t>(v.get<int64_t>());
}

uint64_t get_u64(const json& params, const char* name) {
    const json& v = field(params, name);
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
        invalid_param(name, "a non-negative integer");
    return v.get<uint64_t>();
}

std::string get_string(const json& params, const char* name) {
    const json& v = field(params, name);
    if (!v.is_string() || v.get<std::string>().empty()) invalid_param(name, "a non-empty string");
    return v.get<std::string>();
}

std::vector<std::string> get_string_list(const json& params, const char* name, bool required) {
    const json& v = field(params, name);
    if (v.is_null() && !required) return {};
    if (!v.is_array() || (required && v.empty()))
        invalid_param(name, required ? "a non-empty array of strings" : "an array of strings");
    std::vector<std::string> out;
    for (const auto& e : v) {
        if (!e.is_string()) invalid_param(name, "an array of strings");
        out.push_back(e.get<std::string>());
    }
    return out;
}

std::string optional_string(const json& params, const char* name) {
    const json& v = field(params, name);
    if (v.is_null()) return {};
    if (!v.is_string()) invalid_param(name, "a string");
    return v.get<std::string>();
}

std::string comm_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm.empty() ? "?" : comm;
}

} // namespace

RpcMethods::RpcMethods(TracerThread& tracer, EventQueue& queue, DaemonInfo& info)
    : tracer_(tracer), queue_(queue), info_(info), policy_(info.limits) {}

json RpcMethods::handle(ClientSession& client, const json& id, const std::string& method,
                        const json& params) {
    try {
        if (auto denied = authorize(client, method, params)) throw RpcFailure{std::move(*denied)};
        json result;
        if (method == "daemon.status") result = daemon_status();
        else if (method == "process.attach") result = process_attach(params);
        else if (method == "process.detach") result = process_detach(params);
        else if (method == "process.spawn") result = process_spawn(client, params);
        else if (method == "process.resume") result = process_resume(client, params);
        else if (method == "process.list") result = process_list(client);
        else if (method == "probe.add") result = probe_add(client, params);
        else if (method == "probe.remove") result = probe_remove(client, params);
        else if (method == "probe.list") result = probe_list(client);
        else if (method == "events.subscribe") result = events_subscribe(client, params);
        else if (method == "events.unsubscribe") {
            client.subscription.reset();
            result = {{"subscribed", false}};
        } else if (method == "stack.get") {
            result = stack_get(params);
        } else if (method == "stats.get" && collector_) {
            result = stats_get(params);
        } else if (method == "stats.get") {
            throw RpcFailure{{rpc::kNotImplemented, method + " is not implemented yet",
                              {{"method", method}}}};
        } else {
            throw RpcFailure{
                {rpc::kMethodNotFound, "no such method: " + method, {{"method", method}}}};
        }
        note_success(client, method, result);
        return rpc::result_response(id, std::move(result));
    } catch (const RpcFailure& f) {
        return rpc::error_response(id, f.error);
    } catch (const json::exception& e) {
        return rpc::error_response(id, {rpc::kInvalidParams, std::string("invalid params: ") + e.what(),
                                        json::object()});
    }
}

json RpcMethods::daemon_status() {
    auto procs = tracer_.call([](Engine& e) { return e.process_summaries(); });
    return {{"version", "0.1.0"},
            {"pid", getpid()},
            {"uptime_s", (monotonic_ns() - info_.started_ns) / 1000000000ull},
            {"socket", info_.socket_path},
            {"processes", procs.size()},
            {"probes", probes_.size()},
            {"clients", info_.clients},
            {"events_delivered", info_.events_delivered},
            {"events_dropped", info_.events_dropped + queue_.dropped_total()}};
}

std::string RpcMethods::status_summary() {
    size_t procs = tracer_.call([](Engine& e) { return e.process_summaries().size(); });
    return "tracing " + std::to_string(procs) + " processes, " + std::to_string(probes_.size()) +
           " probes; " + std::to_string(info_.clients) + " clients";
}

json RpcMethods::process_attach(const json& params) {
    pid_t pid = get_pid(params);
    if (pid == getpid())
        throw RpcFailure{{rpc::kInvalidParams, "probed cannot trace itself", {{"field", "pid"}}}};
    bool follow = optional_bool(params, "follow_children");
    auto attached = tracer_.call([pid, follow](Engine& e) -> Result<size_t> {
        PROBED_TRY(e.attach(pid));
        if (follow) PROBED_TRY(e.set_follow_children(pid, true));
        for (const auto& s : e.process_summaries())
            if (s.pid == pid) return s.threads;
        return size_t{0};
    });
    if (!attached && attached.error().kind == ErrorKind::InvalidArgument)
        throw RpcFailure{{rpc::kInvalidParams, attached.error().message,
                          {{"field", "pid"}, {"kind", "invalid_argument"}}}};
    size_t threads = unwrap(std::move(attached));
    return {{"pid", pid}, {"threads", threads}};
}

void RpcMethods::forget_probes_of(pid_t pid) {
    for (auto it = probes_.begin(); it != probes_.end();) {
        if (it->second.pid == pid) it = probes_.erase(it);
        else ++it;
    }
}

json RpcMethods::process_detach(const json& params) {
    pid_t pid = get_pid(params);
    unwrap(tracer_.call([pid](Engine& e) { return e.detach(pid); }));
    forget_probes_of(pid);
    return {{"pid", pid}};
}

json RpcMethods::process_spawn(ClientSession& client, const json& params) {
    std::vector<std::string> argv = get_string_list(params, "argv", true);
    SpawnOptions opts;
    opts.env = get_string_list(params, "env", false);
    opts.cwd = optional_string(params, "cwd");
    opts.stdin_path = optional_string(params, "stdin");
    opts.stdout_path = optional_string(params, "stdout");
    opts.stderr_path = optional_string(params, "stderr");
    // A client that is not the daemon's user gets a program running as
    // itself, never as the daemon.
    if (client.peer.euid() != geteuid())
        opts.identity = SpawnIdentity{client.peer.euid(), client.peer.gids[1], client.peer.groups};
    bool follow = optional_bool(params, "follow_children");
    pid_t pid = unwrap(tracer_.call([&](Engine& e) -> Result<pid_t> {
        auto spawned = e.spawn(argv, opts);
        if (spawned && follow) PROBED_TRY(e.set_follow_children(*spawned, true));
        return spawned;
    }));
    client.held_spawns.insert(pid);
    return {{"pid", pid}, {"held", true}};
}

json RpcMethods::process_resume(ClientSession& client, const json& params) {
    pid_t pid = get_pid(params);
    unwrap(tracer_.call([pid](Engine& e) { return e.resume(pid); }));
    client.held_spawns.erase(pid);
    return {{"pid", pid}};
}

json RpcMethods::process_list(const ClientSession& client) {
    auto procs = tracer_.call([](Engine& e) { return e.process_summaries(); });
    json list = json::array();
    for (const auto& p : procs) {
        if (!may_list(client, p.pid)) continue;
        size_t nprobes = 0;
        for (const auto& [id, m] : probes_) nprobes += m.pid == p.pid;
        list.push_back({{"pid", p.pid},
                        {"comm", comm_of(p.pid)},
                        {"threads", p.threads},
                        {"spawned", p.spawned},
                        {"held", p.held},
                        {"probes", nprobes}});
    }
    return {{"processes", list}};
}

json RpcMethods::probe_add(ClientSession& client, const json& params) {
    ProbeSpec spec;
    spec.pid = get_pid(params);
    spec.target = get_string(params, "target");
    std::string kind = optional_string(params, "kind");
    if (!kind.empty() && !parse_probe_kind(kind, spec.kind))
        invalid_param("kind", "\"entry\", \"return\" or \"call\"");
    const json& cap = field(params, "capture");
    if (!cap.is_null()) {
        if (!cap.is_object()) invalid_param("capture", "an object");
        if (cap.contains("args")) {
            const json& a = cap["args"];
            if (!a.is_number_integer() || a.get<int64_t>() < 0 || a.get<int64_t>() > 6)
                invalid_param("capture.args", "an integer from 0 to 6");
            spec.capture.args = a.get<int>();
        }
        auto flag = [&](const char* name, bool& out) {
            if (!cap.contains(name)) return;
            if (!cap[name].is_boolean()) invalid_param(std::string("capture.") + name, "a boolean");
            out = cap[name].get<bool>();
        };
        flag("retval", spec.capture.retval);
        flag("float_retval", spec.capture.float_retval);
        flag("stack", spec.capture.stack);
    }
    spec.rearm_on_exec = optional_bool(params, "rearm_on_exec");
    std::string owner = optional_string(params, "owner");
    if (!owner.empty() && owner != "client" && owner != "daemon")
        invalid_param("owner", "\"client\" or \"daemon\"");

    std::optional<CollectSpec> collect;
    if (const json& c = field(params, "collect"); !c.is_null()) {
        if (!collector_)
            throw RpcFailure{{rpc::kNotImplemented, "collection is off in this daemon", {{"field", "collect"}}}};
        if (!wants_return(spec.kind)) invalid_param("collect", "used with kind \"return\" or \"call\"");
        collect.emplace();
        std::string name = collection_name_from(comm_of(spec.pid) + "." + spec.target);
        if (auto err = parse_collect_spec(c.is_boolean() && c.get<bool>() ? json::object() : c, name, *collect))
            throw RpcFailure{{rpc::kInvalidParams, "invalid params: " + err->message,
                              {{"field", err->field}, {"expected", err->message}}}};
    }

    ProbeInfo info = unwrap(tracer_.call([&](Engine& e) { return e.add_probe(spec); }));
    if (collect) collector_->collect_probe(info.id, spec.pid, *collect);
    ProbeMeta meta{spec.pid, owner == "daemon", client.id, client.peer.euid()};
    probes_[info.id] = meta;
    if (!meta.daemon_owned) client.owned_probes.insert(info.id);
    return {{"probe_id", info.id},
            {"address", hex_address(info.address)},
            {"module", info.module},
            {"symbol", info.symbol},
            {"strategy", arch::strategy_name(info.strategy)},
            {"instruction", info.instruction}};
}

json RpcMethods::probe_remove(ClientSession& client, const json& params) {
    uint64_t id = get_u64(params, "probe_id");
    unwrap(tracer_.call([id](Engine& e) { return e.remove_probe(id); }));
    probes_.erase(id);
    client.owned_probes.erase(id);
    if (collector_) collector_->forget_probe(id);
    return {{"probe_id", id}};
}

json RpcMethods::probe_list(const ClientSession& client) {
    auto probes = tracer_.call([](Engine& e) { return e.list_probes(); });
    json list = json::array();
    for (const auto& p : probes) {
        auto meta = probes_.find(p.id);
        bool mine = meta != probes_.end() ? AccessPolicy::owns(client.peer, meta->second.uid)
                                          : AccessPolicy::privileged(client.peer);
        if (!mine) continue;
        uint64_t client_drops = client_drops_.count(p.id) ? client_drops_.at(p.id) : 0;
        list.push_back({{"probe_id", p.id},
                        {"pid", p.pid},
                        {"target", p.target},
                        {"address", hex_address(p.address)},
                        {"module", p.module},
                        {"symbol", p.symbol},
                        {"kind", probe_kind_name(p.kind)},
                        {"strategy", arch::strategy_name(p.strategy)},
                        {"instruction", p.instruction},
                        {"owner", meta != probes_.end() && meta->second.daemon_owned ? "daemon"
                                                                                     : "client"},
                        {"rearm_on_exec", p.rearm_on_exec},
                        {"hits", p.hits},
                        {"dropped", p.dropped + client_drops}});
    }
    return {{"probes", list}};
}

json RpcMethods::stack_get(const json& params) {
    pid_t pid = get_pid(params);
    std::optional<pid_t> tid;
    if (!field(params, "tid").is_null()) tid = get_pid(params, "tid");
    StackTrace trace = unwrap(tracer_.call([&](Engine& e) { return e.stack(pid, tid); }));
    json result = {{"pid", pid},
                   {"tid", tid.value_or(pid)},
                   {"frames", stack_frames_to_json(trace.frames)}};
    if (trace.truncated) result["truncated"] = true;
    return result;
}

json RpcMethods::events_subscribe(ClientSession& client, const json& params) {
    Subscription sub;
    const json& ids = field(params, "probe_ids");
    if (!ids.is_null()) {
        if (!ids.is_array()) invalid_param("probe_ids", "an array of probe ids");
        for (const auto& v : ids) {
            if (!v.is_number_integer() || v.get<int64_t>() <= 0)
                invalid_param("probe_ids", "an array of probe ids");
            sub.probe_ids.insert(v.get<uint64_t>());
        }
    }
    const json& pids = field(params, "pids");
    if (!pids.is_null()) {
        if (!pids.is_array()) invalid_param("pids", "an array of pids");
        for (const auto& v : pids) {
            if (!v.is_number_integer() || v.get<int64_t>() <= 0)
                invalid_param("pids", "an array of pids");
            sub.pids.insert(static_cast<pid_t>(v.get<int64_t>()));
        }
    }
    client.subscription = std::move(sub);
    return {{"subscribed", true}};
}

json RpcMethods::stats_get(const json& params) {
    std::optional<std::string> name;
    if (const json& n = field(params, "name"); !n.is_null()) name = get_string(params, "name");
    if (const json& p = field(params, "probe_id"); !p.is_null()) {
        uint64_t id = get_u64(params, "probe_id");
        name = collector_->collection_of(id);
        if (!name)
            throw RpcFailure{{rpc::kNotFound,
                              "probe " + std::to_string(id) +
                                  " is not collected (add it with probe.add {..., collect: {}} or in probes.d)",
                              {{"kind", "not_found"}, {"probe_id", id}}}};
    }
    json stats = collector_->stats(name);
    if (name && stats["collections"].empty())
        throw RpcFailure{{rpc::kNotFound, "no collection named '" + *name + "'",
                          {{"kind", "not_found"}, {"name", *name}}}};
    return stats;
}

void RpcMethods::client_gone(ClientSession& client) {
    for (uint64_t id : client.owned_probes) {
        auto r = tracer_.call([id](Engine& e) { return e.remove_probe(id); });
        if (!r) spdlog::debug("client {} gone: probe {}: {}", client.id, id, r.error().message);
        probes_.erase(id);
        if (collector_) collector_->forget_probe(id);
    }
    client.owned_probes.clear();
    subscribers_[client.peer.euid()].erase(client.id);
    // A program held before main by a client that is gone would wait forever.
    for (pid_t pid : client.held_spawns) (void)tracer_.call([pid](Engine& e) { return e.resume(pid); });
    client.held_spawns.clear();
}

pid_t RpcMethods::pid_of_probe(uint64_t probe_id) const {
    auto it = probes_.find(probe_id);
    return it == probes_.end() ? 0 : it->second.pid;
}

} // namespace probed
