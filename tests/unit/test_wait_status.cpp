#include "daemon/wait_status.h"

#include <doctest/doctest.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <csignal>

using namespace probed;

// Raw statuses built the way the kernel encodes them (see wait(2), ptrace(2)).
TEST_CASE("wait statuses decode into what happened") {
    CHECK(WaitStatus(3 << 8).kind() == WaitStatus::Kind::Exited);
    CHECK(WaitStatus(3 << 8).exit_code() == 3);
    CHECK(WaitStatus(SIGKILL).kind() == WaitStatus::Kind::Killed);
    CHECK(WaitStatus(SIGKILL).signal() == SIGKILL);

    int sigtrap_stop = (SIGTRAP << 8) | 0x7f;
    CHECK(WaitStatus(sigtrap_stop).kind() == WaitStatus::Kind::SignalStop);
    CHECK(WaitStatus(sigtrap_stop).signal() == SIGTRAP);

    int clone_stop = (PTRACE_EVENT_CLONE << 16) | sigtrap_stop;
    CHECK(WaitStatus(clone_stop).kind() == WaitStatus::Kind::EventStop);
    CHECK(WaitStatus(clone_stop).event() == PTRACE_EVENT_CLONE);

    int group_stop = (PTRACE_EVENT_STOP << 16) | (SIGSTOP << 8) | 0x7f;
    CHECK(WaitStatus(group_stop).kind() == WaitStatus::Kind::GroupStop);
    int tstp = (PTRACE_EVENT_STOP << 16) | (SIGTSTP << 8) | 0x7f;
    CHECK(WaitStatus(tstp).kind() == WaitStatus::Kind::GroupStop);

    int interrupt = (PTRACE_EVENT_STOP << 16) | sigtrap_stop;
    CHECK(WaitStatus(interrupt).kind() == WaitStatus::Kind::InterruptStop);
}
