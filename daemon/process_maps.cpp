#include "daemon/process_maps.h"

namespace probed {

namespace {

struct ThreadMaps {
    pid_t tid;
    Result<std::vector<MapEntry>> maps;
};

// proc_files_tid() and its maps; when those are empty or cannot be read
// (a thread that has just exited, its end not yet dispatched), the first
// other thread whose maps show something, with those.
ThreadMaps showing_thread(const ProcessState& proc) {
    ThreadMaps first{proc.proc_files_tid(), read_proc_maps(proc.proc_files_tid())};
    if (first.maps && !first.maps->empty()) return first;
    for (const auto& [tid, t] : proc.threads) {
        if (tid == first.tid) continue;
        auto maps = read_proc_maps(tid);
        if (maps && !maps->empty()) return {tid, std::move(maps)};
    }
    return first;
}

} // namespace

Result<std::vector<MapEntry>> read_process_maps(const ProcessState& proc) {
    return showing_thread(proc).maps;
}

pid_t process_files_tid(const ProcessState& proc) {
    return showing_thread(proc).tid;
}

} // namespace probed
