#pragma once
// A raw waitpid() status decoded into what happened to a tracee thread.
// Decode a stop into a value first, act on it second.
#include <sys/types.h>

namespace probed {

class WaitStatus {
public:
    enum class Kind {
        Exited,        // exit_code()
        Killed,        // by signal(): the whole process died
        SignalStop,    // signal-delivery-stop: signal() is about to be delivered
        GroupStop,     // SIGSTOP/SIGTSTP/... job-control stop (PTRACE_SEIZE: EVENT_STOP)
        InterruptStop, // PTRACE_INTERRUPT or a new thread's first stop (EVENT_STOP, SIGTRAP)
        EventStop,     // event(): PTRACE_EVENT_CLONE/FORK/VFORK/EXEC/EXIT/...
    };

    explicit WaitStatus(int raw);

    Kind kind() const { return kind_; }
    int raw() const { return raw_; }
    int exit_code() const;
    int signal() const;
    int event() const { return raw_ >> 16; }
    bool exited_or_killed() const { return kind_ == Kind::Exited || kind_ == Kind::Killed; }

private:
    int raw_;
    Kind kind_;
};

const char* wait_kind_name(WaitStatus::Kind kind);

} // namespace probed
