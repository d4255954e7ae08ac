// The program's own SIGTRAP disposition across our traps. Each of our
// traps is a SIGTRAP the kernel forces on the thread; on a thread that has
// SIGTRAP blocked, or in a program that ignores it, the kernel first resets
// the process's disposition to SIG_DFL. sigtrap_target calls work() with
// every signal blocked and counts each time it finds its disposition gone:
// before the engine put it back, every traced call lost it.
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

using namespace probed;
using namespace probed::testing;

namespace {

constexpr int kCalls = 300;

void check_calls(TraceSession& s, uint64_t probe_id) {
    auto returns = s.returns_of(probe_id);
    CHECK(returns.size() == kCalls);
    for (const CallEvent& e : returns) CHECK(*e.retval == e.args.at(0) * 7 + 1);
}

// Attached to a running sigtrap_target MODE, which calls work() once told
// to; with `detach_after`, the session detaches after that many calls and
// the program makes the rest untraced. A detach's own injected code ends in
// traps too (a SIGTRAP ignored is reset by any), so it puts the
// disposition back last.
void check_attached(const std::string& mode, int detach_after = 0) {
    const std::string out = temp_path("sigtrap-" + mode);
    pid_t pid =
        start_announcing({target_path("sigtrap_target"), mode, std::to_string(kCalls)}, out);
    TraceSession s;
    REQUIRE(s.engine.attach(pid).ok());
    auto probe = s.engine.add_probe(probe_spec(pid, "work"));
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    kill(pid, SIGUSR1);
    int st = 0;
    if (detach_after > 0) {
        REQUIRE(s.pump_until([&] { return s.returns_of(probe->id).size() >= size_t(detach_after); }));
        REQUIRE(s.engine.detach(pid).ok());
        REQUIRE(waitpid(pid, &st, 0) == pid);
    } else {
        st = s.run_until_exit(pid);
        waitpid(pid, nullptr, 0); // the session saw the exit first; reap it too
        check_calls(s, probe->id);
    }
    CHECK_MESSAGE(WIFEXITED(st), "wait status ", st);
    // SIGTRAP raised twice, before and after the calls.
    const std::string expected = mode == "handler" ? "handler 300 bad 0 lost 0 handled 2"
                                                   : "ignore 300 bad 0 lost 0 handled 0";
    CHECK(read_file(out) == "ready\n" + expected + "\n");
    // The traps did reset it (the test tests something), and each time the
    // engine put it back.
    const EngineCounters& c = s.engine.counters();
    MESSAGE(c.sigtrap_reads, " reads, ", c.sigtrap_restores, " restores");
    CHECK(c.sigtrap_restores >= uint64_t(detach_after > 0 ? detach_after : kCalls));
    CHECK(c.sigtrap_reads >= 1);
    unlink(out.c_str());
}

} // namespace

TEST_CASE("a SIGTRAP handler survives probes hit with every signal blocked") {
    check_attached("handler");
}

TEST_CASE("an ignored SIGTRAP stays ignored") {
    check_attached("ignore");
}

TEST_CASE("an ignored SIGTRAP stays ignored after a detach") {
    check_attached("ignore", 100);
}

// Started by us, the program had no handler when we looked; it installs
// one in main, and a thread blocking every signal calls work().
TEST_CASE("a SIGTRAP handler installed after the program was started traced survives") {
    const std::vector<std::string> argv = {target_path("sigtrap_target"), "late",
                                           std::to_string(kCalls)};
    const std::string out = temp_path("sigtrap-late");
    TraceSession s;
    auto pid = s.engine.spawn(argv, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, "work"));
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    auto finished = s.finish(*pid, argv, out);
    CHECK_MESSAGE(WIFEXITED(finished.status), "wait status ", finished.status);
    CHECK(finished.output == "late 300 bad 0 lost 0 handled 1\n");
    CHECK(finished.output == finished.untraced_output);
    check_calls(s, probe->id);
    CHECK(s.engine.counters().sigtrap_restores >= kCalls);
}
