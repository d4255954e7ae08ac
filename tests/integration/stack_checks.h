#pragma once
// Shared by the stack tests: running stack_target to its bottom and reading
// function names the way gdb prints them.
#include "daemon/stack_frame.h"
#include "tests/integration/trace_session.h"

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

} // namespace probed::testing
