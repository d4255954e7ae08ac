#include "daemon/process_maps.h"

namespace probed {

Result<std::vector<MapEntry>> read_process_maps(const ProcessState& proc) {
    auto maps = read_proc_maps(proc.proc_files_tid());
    if (!maps || !maps->empty() || proc.leader_exited) return maps;
    for (const auto& [tid, t] : proc.threads)
        if (tid != proc.pid) {
            auto other = read_proc_maps(tid);
            if (other && !other->empty()) return other;
        }
    return maps;
}

} // namespace probed
