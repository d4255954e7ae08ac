#include "daemon/event_json.h"

#include "common/remote_ptr.h"
#include "daemon/stack_json.h"

#include <sys/wait.h>

#include <cstdio>

namespace probed {

rpc::json event_to_json(const CallEvent& ev) {
    rpc::json j = {{"type", event_type_name(ev.type)}, {"pid", ev.pid}, {"ts_ns", ev.ts_ns}};
    if (ev.type == EventType::Exit) {
        j["status"] = ev.exit_status;
        if (WIFEXITED(ev.exit_status)) j["exit_code"] = WEXITSTATUS(ev.exit_status);
        if (WIFSIGNALED(ev.exit_status)) j["signal"] = WTERMSIG(ev.exit_status);
        return j;
    }
    j["probe_id"] = ev.probe_id;
    if (ev.type == EventType::ProbeLost) {
        j["function"] = ev.function;
        j["reason"] = ev.reason;
        return j;
    }
    j["tid"] = ev.tid;
    j["function"] = ev.function;
    j["address"] = hex_address(ev.address);
    j["args"] = ev.args;
    if (ev.type == EventType::Return) {
        if (ev.duration_ns) j["duration_ns"] = *ev.duration_ns;
        if (ev.exit) j["exit"] = exit_kind_name(*ev.exit);
        if (ev.retval) {
            j["retval"] = *ev.retval;
            j["retval_hex"] = hex_address(*ev.retval);
        }
        if (ev.float_retval) j["float_retval"] = *ev.float_retval;
    }
    if (ev.stack) j["stack"] = stack_frames_to_json(ev.stack->frames);
    return j;
}

namespace {

void append_json_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
}

void append_field(std::string& out, const char* name, uint64_t v) {
    out += ",\"";
    out += name;
    out += "\":";
    out += std::to_string(v);
}

} // namespace

std::string event_notification_line(const CallEvent& ev) {
    // Rare or costly fields take the general path.
    if (ev.type == EventType::Exit || ev.type == EventType::ProbeLost || ev.float_retval || ev.stack)
        return rpc::to_line(rpc::notification("event", event_to_json(ev)));
    std::string out;
    out.reserve(256);
    out += R"({"jsonrpc":"2.0","method":"event","params":{"type":")";
    out += event_type_name(ev.type);
    out += '"';
    append_field(out, "pid", static_cast<uint64_t>(ev.pid));
    append_field(out, "tid", static_cast<uint64_t>(ev.tid));
    append_field(out, "probe_id", ev.probe_id);
    append_field(out, "ts_ns", ev.ts_ns);
    out += ",\"function\":";
    append_json_string(out, ev.function);
    out += ",\"address\":\"" + hex_address(ev.address) + "\",\"args\":[";
    for (size_t i = 0; i < ev.args.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(ev.args[i]);
    }
    out += ']';
    if (ev.type == EventType::Return) {
        if (ev.duration_ns) append_field(out, "duration_ns", *ev.duration_ns);
        if (ev.exit) {
            out += ",\"exit\":\"";
            out += exit_kind_name(*ev.exit);
            out += '"';
        }
        if (ev.retval) {
            append_field(out, "retval", *ev.retval);
            out += ",\"retval_hex\":\"" + hex_address(*ev.retval) + '"';
        }
    }
    out += "}}\n";
    return out;
}

rpc::json dropped_to_json(uint64_t probe_id, uint64_t count) {
    return {{"type", "dropped"}, {"probe_id", probe_id}, {"count", count}};
}

} // namespace probed
