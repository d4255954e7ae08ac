#pragma once
// A traced process's mappings, read through a thread that shows them.
//
// ProcessState::proc_files_tid() names the main thread while the engine
// believes it lives. Nothing reports a main thread's pthread_exit (see
// Engine::notice_leader_left), and from that moment its /proc files show no
// mappings at all. So an empty answer is read again through another thread:
// a live process always has mappings.
#include "common/result.h"
#include "daemon/proc_maps.h"
#include "daemon/stack_bounds.h"
#include "daemon/tracee.h"

#include <vector>

namespace probed {

Result<std::vector<MapEntry>> read_process_maps(const ProcessState& proc);

// Stack bounds (daemon/stack_bounds.h) from those mappings, read at the
// first question.
inline ProcessStackBounds process_stack_bounds(const ProcessState& proc) {
    return ProcessStackBounds([&proc] { return read_process_maps(proc); });
}

} // namespace probed
