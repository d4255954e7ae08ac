// Detach under fire: 8 threads call nested probed functions without pause
// (stepped, boosted and simulated first instructions, three return probes
// pending per thread), and the engine detaches at moments that vary from
// round to round, so it finds threads in slots, on the trampoline and with
// hijacked return addresses on their stacks. The program checks every
// result itself; its output must be the untraced one.
#include "tests/integration/fire_probes.h"
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <sstream>
#include <string>

using namespace probed;
using namespace probed::testing;

namespace {

constexpr int kThreads = 8;

std::string strip_ready_line(std::string s) {
    auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
}

// What `fire_target fire` prints after SIGINT, run untraced.
std::string untraced_fire_output() {
    std::string out = temp_path("fire-untraced");
    pid_t pid =
        start_announcing({target_path("fire_target"), "fire", std::to_string(kThreads)}, out);
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    std::string text = read_file(out);
    unlink(out.c_str());
    REQUIRE(WIFEXITED(st));
    REQUIRE(WEXITSTATUS(st) == 0);
    return strip_ready_line(text);
}

bool traced_by_anyone(pid_t pid) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("TracerPid:", 0) == 0) return std::stol(line.substr(10)) != 0;
    return false;
}

} // namespace

TEST_CASE("detach at random moments while 8 threads are inside probed functions") {
    const std::string expected = untraced_fire_output();
    std::string out = temp_path("fire");
    pid_t pid =
        start_announcing({target_path("fire_target"), "fire", std::to_string(kThreads)}, out);
    REQUIRE(read_file(out).find("ready") != std::string::npos);

    constexpr int kRounds = 24;
    uint64_t returns = 0, detach_exits = 0, in_page = 0, steps = 0;
    std::map<arch::Strategy, int> strategies;
    unsigned seed = static_cast<unsigned>(getpid());
    for (int round = 0; round < kRounds; ++round) {
        CAPTURE(round);
        TraceSession s;
        auto attached = s.engine.attach(pid);
        if (!attached.ok()) {
            int st = 0;
            bool ended = waitpid(pid, &st, WNOHANG) == pid;
            FAIL("attach: ", attached.error().message, ended ? "; the program ended, status " +
                                                               std::to_string(st) : std::string());
        }
        std::map<uint64_t, const FireFunction*> by_id;
        for (const FireFunction& f : fire_functions()) {
            auto probe = s.engine.add_probe(probe_spec(pid, f.name));
            REQUIRE_MESSAGE(probe.ok(), f.name, ": ", probe.error().message);
            by_id[probe->id] = &f;
            if (round == 0) strategies[probe->strategy]++;
        }
        // Some calls first, then a pause that differs from round to round:
        // the detach lands anywhere in the hit/resume cycle.
        uint64_t level1_id = by_id.begin()->first;
        REQUIRE(s.pump_until([&] { return s.returns_of(level1_id).size() >= kThreads; }));
        seed = seed * 1103515245 + 12345;
        s.pump_for(std::chrono::milliseconds((seed >> 16) % 9));
        REQUIRE(s.engine.detach(pid).ok());
        s.collect();
        CHECK_FALSE(s.engine.tracing(pid));
        CHECK_FALSE(traced_by_anyone(pid));
        in_page += s.engine.counters().detach_in_page;
        steps += s.engine.counters().steps;

        for (const auto& [id, f] : by_id) {
            CAPTURE(f->name);
            for (const auto& r : s.returns_of(id)) {
                REQUIRE(r.exit.has_value());
                if (*r.exit == ExitKind::Return) {
                    REQUIRE(r.retval.has_value());
                    CHECK(*r.retval == f->expected(r.args));
                    ++returns;
                } else {
                    // The only other ending a call in flight may have here.
                    CHECK(*r.exit == ExitKind::Detach);
                    ++detach_exits;
                }
            }
        }
    }
    MESSAGE("over ", kRounds, " rounds: ", returns, " returns checked, ", detach_exits,
            " calls in flight restored at detach, ", in_page,
            " threads moved out of a slot or the trampoline, ", steps, " steps");
    // Return probes only: one strategy of each kind on x86_64.
    if (!fire_stepped_leaf().empty()) {
        CHECK(strategies[arch::Strategy::Stepped] >= 1);
        CHECK(strategies[arch::Strategy::Boosted] >= 1);
        CHECK(strategies[arch::Strategy::Simulate] >= 1);
        CHECK(steps > 0);
    }
    // The detaches really happened with calls in flight and threads inside
    // our page; had they all landed between calls this test would prove little.
    CHECK(detach_exits >= kRounds);
    CHECK(in_page > 0);

    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(strip_ready_line(read_file(out)) == expected);
    unlink(out.c_str());
}
