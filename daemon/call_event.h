#pragma once
// One event produced by the engine: a probe entry, or a completed call.
#include <sys/types.h>

#include "daemon/stack_frame.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace probed {

// Exit: a traced process ended (exit_status holds its raw wait status).
// ProbeLost: the probe can no longer fire (its process exec'd); `reason` says why.
enum class EventType { Entry, Return, Dropped, Exit, ProbeLost };
// ThreadExit: the thread or process ended while the call was in flight.
enum class ExitKind { Return, Exception, Longjmp, Detach, ThreadExit };

const char* event_type_name(EventType t);
const char* exit_kind_name(ExitKind k);

struct CallEvent {
    EventType type = EventType::Return;
    uint64_t probe_id = 0;
    pid_t pid = 0;
    pid_t tid = 0;
    std::string function;
    uint64_t address = 0;
    uint64_t ts_ns = 0; // CLOCK_MONOTONIC at the entry hit
    std::vector<uint64_t> args;
    std::optional<uint64_t> retval;
    std::optional<double> float_retval;
    std::optional<uint64_t> duration_ns;
    std::optional<ExitKind> exit;
    std::shared_ptr<const StackTrace> stack; // capture.stack: taken at the entry hit
    uint64_t dropped_count = 0; // EventType::Dropped
    int exit_status = 0;        // EventType::Exit
    std::string reason;         // EventType::ProbeLost
};

} // namespace probed
