#pragma once
// A traced process's mappings, read through a thread that shows them.
//
// ProcessState::proc_files_tid() names the main thread while the engine
// believes it lives. Nothing reports a main thread's pthread_exit (see
// Engine::notice_leader_left), and from that moment its /proc files show no
// mappings at all; a thread that has just exited shows none either. So an
// empty or failed answer is read again through another thread: a live
// process always has mappings.
#include "common/result.h"
#include "daemon/proc_maps.h"
#include "daemon/stack_bounds.h"
#include "daemon/tracee.h"

#include <vector>

namespace probed {

Result<std::vector<MapEntry>> read_process_maps(const ProcessState& proc);

// A thread whose /proc files show the process: proc_files_tid(), or, when
// that one's maps are empty, another thread's whose are not. Changes no
// state, so it is safe on a hit's path (Engine::notice_leader_left is not:
// letting the leader go may retire the very site being handled).
pid_t process_files_tid(const ProcessState& proc);

// Stack bounds (daemon/stack_bounds.h) from those mappings, read at the
// first question.
inline ProcessStackBounds process_stack_bounds(const ProcessState& proc) {
    return ProcessStackBounds([&proc] { return read_process_maps(proc); });
}

} // namespace probed
