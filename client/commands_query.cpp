// The one-shot commands: a request or two, an answer printed.
#include "client/commands.h"

#include "client/exit_codes.h"
#include "client/json_fields.h"
#include "client/stats_format.h"
#include "client/stack_format.h"
#include "client/text_table.h"

#include <cstdio>

namespace probed::client {

namespace {

using nlohmann::json;

void print_out(const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
}

// Results for scripts are compact lines, for people indented.
void print_result(const CommandContext& ctx, const json& result) {
    print_out(dump_json(result, ctx.args.json ? -1 : 2) + '\n');
}

std::string field_text(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        return "-";
    if (it->is_boolean())
        return it->get<bool>() ? "yes" : "no";
    return string_field(obj, key);
}

const json& array_in(const json& obj, const char* key) {
    static const json empty = json::array();
    if (!obj.is_object())
        return empty;
    auto it = obj.find(key);
    return it != obj.end() && it->is_array() ? *it : empty;
}

std::string format_uptime(double seconds) {
    auto s = static_cast<long long>(seconds);
    char buf[64];
    if (s >= 86400)
        std::snprintf(buf, sizeof buf, "%lldd %02lldh %02lldm", s / 86400, s / 3600 % 24,
                      s / 60 % 60);
    else if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%lldh %02lldm %02llds", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60)
        std::snprintf(buf, sizeof buf, "%lldm %02llds", s / 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%llds", s);
    return buf;
}

// A call whose RPC error is fatal for the command: nullopt after printing.
std::optional<json> call_or_report(CommandContext& ctx, const std::string& method,
                                   const json& params, int& status) {
    auto reply = ctx.rpc.call(method, params);
    if (!reply) {
        status = fail(reply.error().message);
        return std::nullopt;
    }
    if (!reply->ok()) {
        status = fail(reply->error->message);
        return std::nullopt;
    }
    return std::move(reply->result);
}

} // namespace

int cmd_list(CommandContext& ctx) {
    int status = kExitOk;
    auto processes = call_or_report(ctx, "process.list", json::object(), status);
    if (!processes)
        return status;
    auto probes = call_or_report(ctx, "probe.list", json::object(), status);
    if (!probes)
        return status;

    if (ctx.args.json) {
        // One object per line; "type" tells scripts which table it came from.
        std::string out;
        for (json p : array_in(*processes, "processes")) {
            p["type"] = "process";
            out += dump_json(p) + '\n';
        }
        for (json p : array_in(*probes, "probes")) {
            p["type"] = "probe";
            out += dump_json(p) + '\n';
        }
        print_out(out);
        return kExitOk;
    }

    const json& procs = array_in(*processes, "processes");
    if (procs.empty()) {
        print_out("no traced processes\n");
    } else {
        TextTable table({"PID", "COMM", "THREADS", "SPAWNED", "PROBES"});
        for (const json& p : procs)
            table.add_row({field_text(p, "pid"), field_text(p, "comm"), field_text(p, "threads"),
                           field_text(p, "spawned"), field_text(p, "probes")});
        print_out(table.render());
    }
    const json& prbs = array_in(*probes, "probes");
    if (prbs.empty())
        return kExitOk;
    TextTable table({"ID", "PID", "TARGET", "SYMBOL", "KIND", "ADDRESS", "MODULE", "STRATEGY",
                     "HITS", "DROPPED", "OWNER"});
    for (const json& p : prbs)
        table.add_row({field_text(p, "probe_id"), field_text(p, "pid"), field_text(p, "target"),
                       field_text(p, "symbol"), field_text(p, "kind"), field_text(p, "address"),
                       field_text(p, "module"), field_text(p, "strategy"), field_text(p, "hits"),
                       field_text(p, "dropped"), field_text(p, "owner")});
    print_out('\n' + table.render());
    return kExitOk;
}

int cmd_detach(CommandContext& ctx) {
    int status = kExitOk;
    auto result = call_or_report(ctx, "process.detach", {{"pid", ctx.args.pid}}, status);
    if (!result)
        return status;
    if (ctx.args.json)
        print_result(ctx, *result);
    else
        print_out("detached from " + std::to_string(ctx.args.pid) + '\n');
    return kExitOk;
}

int cmd_status(CommandContext& ctx) {
    int status = kExitOk;
    auto r = call_or_report(ctx, "daemon.status", json::object(), status);
    if (!r)
        return status;
    if (ctx.args.json) {
        print_result(ctx, *r);
        return kExitOk;
    }
    std::string out = "probed " + field_text(*r, "version") + ", pid " + field_text(*r, "pid");
    if (auto up = double_field(*r, "uptime_s"))
        out += ", up " + format_uptime(*up);
    out += '\n';
    TextTable table({"socket", field_text(*r, "socket")});
    for (const char* key : {"processes", "probes", "clients"})
        table.add_row({key, field_text(*r, key)});
    table.add_row({"events", field_text(*r, "events_delivered") + " delivered, " +
                                 field_text(*r, "events_dropped") + " dropped"});
    print_out(out + table.render());
    return kExitOk;
}

int cmd_stack(CommandContext& ctx) {
    json params = {{"pid", ctx.args.pid}};
    if (ctx.args.tid)
        params["tid"] = *ctx.args.tid;
    int status = kExitOk;
    auto r = call_or_report(ctx, "stack.get", params, status);
    if (!r)
        return status;
    if (ctx.args.json)
        print_result(ctx, *r);
    else
        print_out(format_stack(*r));
    return kExitOk;
}

int cmd_stats(CommandContext& ctx) {
    json params = json::object();
    if (ctx.args.probe_id)
        params["probe_id"] = *ctx.args.probe_id;
    if (ctx.args.collection)
        params["name"] = *ctx.args.collection;
    int status = kExitOk;
    auto r = call_or_report(ctx, "stats.get", params, status);
    if (!r)
        return status;
    if (ctx.args.json)
        print_result(ctx, *r);
    else
        print_out(format_stats(*r));
    return kExitOk;
}

int cmd_call(CommandContext& ctx) {
    auto reply = ctx.rpc.call(ctx.args.method, ctx.args.params);
    if (!reply)
        return fail(reply.error().message);
    if (reply->ok()) {
        print_result(ctx, reply->result);
        return kExitOk;
    }
    // The whole error object: scripts calling raw methods want code and data.
    const RpcError& e = *reply->error;
    json error = {{"code", e.code}, {"message", e.message}, {"data", e.data}};
    std::fputs((dump_json(error, ctx.args.json ? -1 : 2) + '\n').c_str(), stderr);
    return kExitFailure;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "probectl: %s\n", message.c_str());
    return kExitFailure;
}

int run_command(CommandContext& ctx) {
    switch (ctx.args.command) {
    case Command::Attach:
        return cmd_attach(ctx);
    case Command::Run:
        return cmd_run(ctx);
    case Command::List:
        return cmd_list(ctx);
    case Command::Detach:
        return cmd_detach(ctx);
    case Command::Status:
        return cmd_status(ctx);
    case Command::Stack:
        return cmd_stack(ctx);
    case Command::Stats:
        return cmd_stats(ctx);
    case Command::Call:
        return cmd_call(ctx);
    case Command::None:
    case Command::Help:
        break;
    }
    return kExitUsage;
}

} // namespace probed::client
