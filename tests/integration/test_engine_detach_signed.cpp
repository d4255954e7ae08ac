// Letting go of calls pending inside probed functions whose return addresses
// are signed (arm64 pointer authentication), at detach and in a released
// fork child: the hijack cannot be undone there, and the calls must still
// return to their callers without us (daemon/detached_returns.h). On x86_64
// and arm64 without PAC the same tests check the plain restore.
#include "tests/integration/pointer_auth.h"
#include "tests/integration/probed_run.h"
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

constexpr int kThreads = 4;

// The program's output after its "ready" line, and its wait status: runs
// `blocked` to the end, signalled as the traced run is.
std::string without_ready_line(const std::string& text) {
    return text.substr(text.find('\n') + 1);
}

std::string untraced_blocked_run(const std::string& exe) {
    std::string out = temp_path("blocked-untraced");
    pid_t pid = start_untraced({exe, "blocked", std::to_string(kThreads)}, out);
    kill(pid, SIGUSR1);
    kill(pid, SIGUSR2);
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(WIFEXITED(st));
    REQUIRE(WEXITSTATUS(st) == 0);
    std::string text = without_ready_line(read_file(out));
    unlink(out.c_str());
    return text;
}

// How many of pid's threads sleep in the kernel (state S): in "blocked"
// mode, main in sigwait and each thread in read, past every prologue.
size_t sleeping_threads(pid_t pid) {
    size_t n = 0;
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(dir)) {
        std::string stat = read_file(task.path() / "stat");
        auto close = stat.rfind(')');
        if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'S') ++n;
    }
    return n;
}

} // namespace

TEST_CASE("pointer authentication is on where the test run expects it") {
    require_expected_pointer_auth();
}

TEST_CASE("detach with calls pending in signed frames: they return without us") {
#if defined(__aarch64__)
    // -mbranch-protection=pac-ret+leaf+bti: every function signs x30.
    const std::vector<std::string> variants = {"probe_target_pac"};
#else
    const std::vector<std::string> variants = {"probe_target_pie_O0", "probe_target_pie_O2"};
#endif
    for (const std::string& variant : variants) {
        CAPTURE(variant);
        const std::string exe = target_path(variant);
        const std::string expected = untraced_blocked_run(exe);
        REQUIRE(expected.find("blocked 3 = ") != std::string::npos);

        std::string out = temp_path("blocked");
        pid_t pid = start_untraced({exe, "blocked", std::to_string(kThreads)}, out);
        uint64_t left = 0;
        {
            TraceSession s;
            REQUIRE(s.engine.attach(pid).ok());
            auto outer = s.engine.add_probe(probe_spec(pid, "blocked_outer", ProbeKind::Call));
            REQUIRE_MESSAGE(outer.ok(), outer.error().message);
            auto inner = s.engine.add_probe(probe_spec(pid, "blocked_inner", ProbeKind::Call));
            REQUIRE_MESSAGE(inner.ok(), inner.error().message);
            kill(pid, SIGUSR1); // start the threads: each enters both and blocks
            // Every call entered and signed its return address: all threads
            // wait in read().
            REQUIRE(s.pump_until([&] {
                return s.entries_of(inner->id).size() == kThreads &&
                       s.entries_of(outer->id).size() == kThreads &&
                       sleeping_threads(pid) == kThreads + 1;
            }, std::chrono::seconds(60)));
            REQUIRE(s.engine.detach(pid).ok());
            s.collect();
            auto rets = s.returns_of(outer->id);
            auto inner_rets = s.returns_of(inner->id);
            rets.insert(rets.end(), inner_rets.begin(), inner_rets.end());
            CHECK(rets.size() == 2 * kThreads);
            for (const CallEvent& r : rets) CHECK(r.exit == ExitKind::Detach);
            left = s.engine.counters().detached_returns;
        }
        // Let the calls finish, long after we have gone.
        kill(pid, SIGUSR2);
        int st = 0;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        CHECK_MESSAGE(!WIFSIGNALED(st), "killed by signal ", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        REQUIRE(WIFEXITED(st));
        CHECK(WEXITSTATUS(st) == 0);
        CHECK(without_ready_line(read_file(out)) == expected);
        unlink(out.c_str());
        // With pointer authentication every pending call (two per thread)
        // kept only a signed copy and went through the stub; without it the
        // plain copies were all put back and nothing stayed.
        if (pointer_auth_active()) CHECK(left == 2 * kThreads);
        else CHECK(left == 0);
    }
}

TEST_CASE("a fork child released inside signed frames returns from them without us") {
#if defined(__aarch64__)
    const std::string exe = target_path("probe_target_pac");
#else
    const std::string exe = target_path("probe_target_pie_O0");
#endif
    constexpr int kForks = 5;
    TraceSession s;
    // Each child exited with its own code (printed by the parent), not
    // SIGTRAP from our page.
    auto ids = run_like_untraced(s, {exe, "forkin", std::to_string(kForks)}, {"fork_inside"});
    auto rets = s.returns_of(ids[0]);
    REQUIRE(rets.size() == kForks);
    for (const CallEvent& r : rets) CHECK(r.exit == ExitKind::Return);
    const uint64_t children = s.engine.counters().detached_fork_children;
    if (pointer_auth_active()) CHECK(children == kForks);
    else CHECK(children == 0);
}
