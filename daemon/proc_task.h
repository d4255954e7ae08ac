#pragma once
// What /proc says about one thread, for the engine's waits and stops.
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace probed {

// The text after `field` ("Tgid:") in /proc/TID/status, or nullopt when
// the thread is gone or has no such line.
std::optional<std::string> task_status_field(pid_t tid, std::string_view field);

// Thread-group id of a thread we have not seen yet (its first stop can be
// reported before its creator's PTRACE_EVENT_CLONE); 0 if it is gone.
pid_t tgid_of(pid_t tid);

// Whether `tid` is traced by the calling thread already, or gone: a thread
// created by one we seized is seized with it (PTRACE_O_TRACECLONE), and
// seizing it again fails with EPERM.
bool seized_already_or_gone(pid_t tid);

// Whether SIGTRAP is queued for this thread but not yet delivered.
bool sigtrap_pending(pid_t tid);

// The state letter of thread `tid` in /proc/TID/stat (R, S, t, Z, ...),
// '?' when it is gone.
char thread_state(pid_t tid);

// Whether thread `tid` has exited: a zombie waiting to be reaped (a main
// thread that left with pthread_exit stays one while other threads run
// on), being reaped, or gone.
bool thread_exited(pid_t tid);

} // namespace probed
