#include "daemon/call_event.h"

namespace probed {

const char* event_type_name(EventType t) {
    switch (t) {
    case EventType::Entry: return "entry";
    case EventType::Return: return "return";
    case EventType::Dropped: return "dropped";
    case EventType::Exit: return "exit";
    case EventType::ProbeLost: return "probe_lost";
    }
    return "?";
}

const char* exit_kind_name(ExitKind k) {
    switch (k) {
    case ExitKind::Return: return "return";
    case ExitKind::Exception: return "exception";
    case ExitKind::Longjmp: return "longjmp";
    case ExitKind::Detach: return "detach";
    case ExitKind::ThreadExit: return "thread_exit";
    }
    return "?";
}

} // namespace probed
