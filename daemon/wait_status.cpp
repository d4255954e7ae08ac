#include "daemon/wait_status.h"

#include <sys/ptrace.h>
#include <sys/wait.h>

#include <csignal>

namespace probed {

WaitStatus::WaitStatus(int raw) : raw_(raw) {
    if (WIFEXITED(raw)) kind_ = Kind::Exited;
    else if (WIFSIGNALED(raw)) kind_ = Kind::Killed;
    else if (event() == PTRACE_EVENT_STOP) {
        int sig = WSTOPSIG(raw);
        bool job_control = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
        kind_ = job_control ? Kind::GroupStop : Kind::InterruptStop;
    } else if (event() != 0) kind_ = Kind::EventStop;
    else kind_ = Kind::SignalStop;
}

int WaitStatus::exit_code() const { return WIFEXITED(raw_) ? WEXITSTATUS(raw_) : -1; }

int WaitStatus::signal() const {
    if (WIFSIGNALED(raw_)) return WTERMSIG(raw_);
    if (WIFSTOPPED(raw_)) return WSTOPSIG(raw_);
    return 0;
}

const char* wait_kind_name(WaitStatus::Kind kind) {
    switch (kind) {
    case WaitStatus::Kind::Exited: return "exited";
    case WaitStatus::Kind::Killed: return "killed";
    case WaitStatus::Kind::SignalStop: return "signal-stop";
    case WaitStatus::Kind::GroupStop: return "group-stop";
    case WaitStatus::Kind::InterruptStop: return "interrupt-stop";
    case WaitStatus::Kind::EventStop: return "event-stop";
    }
    return "?";
}

} // namespace probed
