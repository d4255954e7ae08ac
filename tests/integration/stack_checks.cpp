#include "tests/integration/stack_checks.h"

#include <signal.h>

#include <chrono>
#include <optional>
#include <thread>

namespace probed::testing {

std::string bare_function(const std::string& name) { return name.substr(0, name.find('(')); }

std::vector<std::string> functions_to_main(const std::vector<StackFrame>& frames) {
    std::vector<std::string> out;
    for (const auto& f : frames) {
        out.push_back(bare_function(f.function));
        if (out.back() == "main") break;
    }
    return out;
}

KillAtScopeExit::~KillAtScopeExit() {
    if (pid_ > 0) kill(pid_, SIGKILL);
}

Result<StackTrace> stack_when_waiting(TraceSession& s, pid_t pid) {
    std::optional<Result<StackTrace>> trace;
    s.pump_until([&] {
        trace = s.engine.stack(pid);
        return !*trace || (!(*trace)->frames.empty() &&
                           bare_function((*trace)->frames[0].function) == "nap");
    });
    return std::move(*trace);
}

bool wait_for_bottom(const std::string& out_path) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (read_file(out_path).find("bottom") == std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

} // namespace probed::testing
