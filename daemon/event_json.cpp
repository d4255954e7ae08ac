#include "daemon/event_json.h"

#include "common/remote_ptr.h"

#include <sys/wait.h>

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
    return j;
}

rpc::json dropped_to_json(uint64_t probe_id, uint64_t count) {
    return {{"type", "dropped"}, {"probe_id", probe_id}, {"count", count}};
}

} // namespace probed
