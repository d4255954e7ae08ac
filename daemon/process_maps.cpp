#include "daemon/process_maps.h"

namespace probed {

namespace {

// The first thread of `proc` other than the one tried whose maps show
// something, with those maps.
std::optional<std::pair<pid_t, std::vector<MapEntry>>> other_thread_maps(const ProcessState& proc,
                                                                        pid_t tried) {
    for (const auto& [tid, t] : proc.threads) {
        if (tid == tried) continue;
        auto maps = read_proc_maps(tid);
        if (maps && !maps->empty()) return std::pair{tid, std::move(*maps)};
    }
    return std::nullopt;
}

} // namespace

Result<std::vector<MapEntry>> read_process_maps(const ProcessState& proc) {
    const pid_t tid = proc.proc_files_tid();
    auto maps = read_proc_maps(tid);
    // Or failed: a thread that has just exited (its end not yet dispatched).
    if (!maps || maps->empty())
        if (auto other = other_thread_maps(proc, tid)) return std::move(other->second);
    return maps;
}

pid_t process_files_tid(const ProcessState& proc) {
    const pid_t tid = proc.proc_files_tid();
    auto maps = read_proc_maps(tid);
    if (!maps || maps->empty())
        if (auto other = other_thread_maps(proc, tid)) return other->first;
    return tid;
}

} // namespace probed
