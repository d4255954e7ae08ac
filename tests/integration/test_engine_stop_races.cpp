// Stopping a process (detach, probe changes) while its threads sit in
// execve or clone. A ptrace event stop (exec, clone) reported before our
// PTRACE_INTERRUPT clears the interrupt: the kernel's ptrace_stop drops a
// pending STOP trap at any trap, and only a signal's stop, which comes
// after the jobctl traps, leaves it for later. A tracer that waits for the
// interrupt after such a stop waits until the thread's next trap, forever
// for a thread that makes none: the daemon's tracer thread stuck for the
// life of the program.
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <optional>
#include <future>
#include <string>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

// Attaches to `pid`, probes work(), lets a few milliseconds pass and
// detaches, `rounds` times or until the program has ended. Returns the
// rounds done and the probe errors seen (an image being replaced may have
// no work() yet: not a failure).
struct Rounds {
    int done = 0;
    std::vector<std::string> probe_errors;
    std::vector<std::string> attach_errors;
    std::string ended; // why the rounds ended early
    // The program's wait status, when it ended while traced (the engine
    // reaped it).
    std::optional<int> reaped;
};

bool running(pid_t pid) {
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

Rounds attach_detach_rounds(pid_t pid, int rounds) {
    Rounds r;
    for (; r.done < rounds; ++r.done) {
        TraceSession s;
        const auto ended = [&](const std::string& what) {
            r.ended = what;
            s.collect();
            for (const CallEvent& e : s.events_of_type(EventType::Exit))
                if (e.pid == pid) r.reaped = e.exit_status;
        };
        if (auto a = s.engine.attach(pid); !a.ok()) {
            // Refused with a clear error while the image changes under it
            // (the new program's memory is not the one read): fine, if
            // the program runs on.
            if (running(pid)) {
                r.attach_errors.push_back(a.error().message);
                continue;
            }
            ended("attach: " + a.error().message);
            break;
        }
        auto probe = s.engine.add_probe(probe_spec(pid, "work", ProbeKind::Call));
        if (!probe.ok()) r.probe_errors.push_back(probe.error().message);
        s.pump_for(std::chrono::milliseconds(1 + r.done % 5));
        if (auto d = s.engine.detach(pid); !d.ok()) {
            ended("detach: " + d.error().message);
            break;
        }
    }
    return r;
}

// The rounds on a thread of their own (the engine's ptrace calls must all
// come from one thread): a stop that never comes is caught by `limit`,
// after which the program is killed so that the engine's wait returns.
Rounds rounds_within(pid_t pid, int rounds, std::chrono::seconds limit) {
    auto run = std::async(std::launch::async, [=] { return attach_detach_rounds(pid, rounds); });
    if (run.wait_for(limit) != std::future_status::ready) {
        kill(pid, SIGKILL);
        Rounds r = run.get();
        FAIL("attach/detach round ", r.done, " did not return within ", limit.count(), " s");
    }
    return run.get();
}

// Runs probe_target MODE N untraced while attach_detach_rounds runs on it;
// it must finish as it would have without us.
void check_rounds_on(const std::string& mode, long n, const std::string& expected) {
    const std::string out = temp_path(mode);
    pid_t pid = start_untraced_execed({target_path("probe_target_pie_O2"), mode, std::to_string(n)},
                                      out);
    Rounds r = rounds_within(pid, 40, std::chrono::seconds(120));
    CAPTURE(r.ended);
    MESSAGE(r.done, " rounds, ", r.attach_errors.size(), " attaches and ",
            r.probe_errors.size(), " probes refused");
    CHECK(r.done - r.attach_errors.size() > 5);
    // The program is this test's child: an engine's waitpid(-1) may have
    // taken its exit status (reported when it ended traced, lost when it
    // ended between two sessions). Its last line is printed at its end.
    int st = 0;
    if (r.reaped) st = *r.reaped;
    else if (waitpid(pid, &st, 0) != pid) st = 0;
    CHECK_MESSAGE(WIFEXITED(st), "wait status ", st, " (signal ", WIFSIGNALED(st) ? WTERMSIG(st) : 0, ")");
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == expected);
    unlink(out.c_str());
}

} // namespace

TEST_CASE("detach while the program execs itself over and over") {
    check_rounds_on("execchain", 1000, "execchain done\n");
}

// Each attach also races a pthread_create under way: a clone begun before
// its caller was seized makes a thread nobody traces, which died of
// SIGTRAP on work()'s breakpoint (about 1 run in 8 under load) until attach
// waited for every thread's system call to end before looking again.
TEST_CASE("detach while the program starts thread after thread") {
    check_rounds_on("spawnloop", 20000, "spawnloop 20000 bad 0 sigtrap handler lost 0\n");
}
