#pragma once
// Shared by the stack tests: running stack_target to its bottom and reading
// function names the way gdb prints them.
#include "daemon/stack_frame.h"
#include "tests/integration/trace_session.h"

#include <sys/types.h>

#include <string>
#include <vector>

namespace probed::testing {

constexpr long kStackDepth = 100; // deep::dive(100) .. deep::dive(0): 101 frames
inline const char* kStackTargetOutput = "bottom\nsum 5050\n";

// "deep::dive(long)" -> "deep::dive": gdb prints names without parameters.
std::string bare_function(const std::string& name);
// Our frames' bare function names up to and including main (gdb's bt stops
// at main by default).
std::vector<std::string> functions_to_main(const std::vector<StackFrame>& frames);
// Waits (without tracing) until the program wrote "bottom" to `out_path`.
bool wait_for_bottom(const std::string& out_path);
// "bottom" is in the file as soon as write() put it there, while the thread
// may still be on its way back from libc: the stack of `pid`'s main thread
// once it waits in nap (or the last one taken, if it never gets there).
Result<StackTrace> stack_when_waiting(TraceSession& s, pid_t pid);

// stack_target waits at its bottom for SIGUSR1: a test that fails halfway
// must not leave it there. Declared after the TraceSession, so it kills the
// target before the engine lets go of it; disarm() once the target ended.
class KillAtScopeExit {
public:
    explicit KillAtScopeExit(pid_t pid) : pid_(pid) {}
    ~KillAtScopeExit();
    KillAtScopeExit(const KillAtScopeExit&) = delete;
    KillAtScopeExit& operator=(const KillAtScopeExit&) = delete;
    void disarm() { pid_ = 0; }

private:
    pid_t pid_;
};

} // namespace probed::testing
