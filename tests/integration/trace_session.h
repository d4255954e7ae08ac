#pragma once
// Test helper: an Engine plus its event queue, driving real target programs.
#include "daemon/engine.h"
#include "daemon/event_queue.h"
#include "daemon/proc_task.h"

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace probed::testing {

// Path of a program built in tests/targets (PROBED_TARGETS_DIR is set by meson).
std::string target_path(const std::string& name);

// Starts a command untraced with stdout to `out_path`.
pid_t start_untraced(const std::vector<std::string>& argv, const std::string& out_path);
// The same, for a mode of a target that says "ready" once it has set itself
// up: returns once that line is there.
pid_t start_announcing(const std::vector<std::string>& argv, const std::string& out_path);
// The same, returning once the child has exec'd argv[0] (for programs that
// announce nothing): attaching earlier would trace a copy of this test.
pid_t start_untraced_execed(const std::vector<std::string>& argv, const std::string& out_path);
// Runs a command without tracing and returns its stdout.
std::string run_untraced(const std::vector<std::string>& argv);
std::string read_file(const std::string& path);
// Waits up to 2 s for the main thread of `pid` to have left with
// pthread_exit (a zombie while other threads run on); whether it has.
bool wait_until_leader_left(pid_t pid);
std::string temp_path(const std::string& tag);
// The anonymous mappings of `pid` that hold code or read-only data (not
// writable, not PROT_NONE), by address range: where our slot pages and a
// detach's table would be. Programs have few or none of their own.
std::set<std::string> anonymous_code_mappings(pid_t pid);
ProbeSpec probe_spec(pid_t pid, const std::string& target, ProbeKind kind = ProbeKind::Return);
// Spawn options that send the target's stdout to `path` (/dev/null: quiet).
SpawnOptions output_to(const std::string& path);
inline SpawnOptions quiet_spawn() { return output_to("/dev/null"); }

struct TraceSession {
    TraceSession(); // PROBED_LOG=debug|trace turns on engine logs
    EventQueue queue{1u << 22};
    Engine engine{queue};
    std::vector<CallEvent> events;

    // Pumps the engine and collects events until `pid` has ended or
    // `timeout` passes; returns its raw wait status, -1 on timeout.
    int run_until_exit(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(60));
    // Resumes `pid`, spawned from `argv` with its stdout to `out_path`, runs
    // it to its end, and gives its status and output next to an untraced
    // run's output; `out_path` is removed.
    struct Finished {
        int status = -1;
        std::string output;
        std::string untraced_output;
    };
    Finished finish(pid_t pid, const std::vector<std::string>& argv, const std::string& out_path);
    // Pumps for `duration`, collecting events.
    void pump_for(std::chrono::milliseconds duration);
    // Pumps until pred() holds (true) or `timeout` passes (false).
    bool pump_until(const std::function<bool()>& pred,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
    void collect();

    std::vector<CallEvent> returns_of(uint64_t probe_id) const;
    std::vector<CallEvent> entries_of(uint64_t probe_id) const;
    std::vector<CallEvent> events_of_type(EventType type) const;
};

} // namespace probed::testing
