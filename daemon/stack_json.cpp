#include "daemon/stack_json.h"

#include "common/remote_ptr.h"

namespace probed {

rpc::json stack_frames_to_json(const std::vector<StackFrame>& frames) {
    rpc::json out = rpc::json::array();
    for (const StackFrame& f : frames) {
        rpc::json j = {{"pc", hex_address(f.pc)},
                       {"module", f.module},
                       {"function", f.function},
                       {"offset", f.offset}};
        if (!f.file.empty()) {
            j["file"] = f.file;
            j["line"] = f.line;
        }
        if (f.via_trampoline) j["via_trampoline"] = true;
        out.push_back(std::move(j));
    }
    return out;
}

} // namespace probed
