#pragma once
// A run of tests/targets/unwind_target under the engine, for the tests of
// control flow that leaves probed functions without returning
// (test_engine_unwind.cpp, test_engine_unwind_signed.cpp).
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <string>
#include <vector>

namespace probed::testing {

struct UnwindRun {
    TraceSession s;
    std::string out;
    pid_t pid = 0;
    std::map<std::string, uint64_t> ids;

    // Spawns unwind_target MODE ROUNDS held, probes `funcs`, runs it to the
    // end and checks its output and exit status equal an untraced run's.
    void run(const std::string& exe_name, const std::string& mode, int rounds,
             const std::vector<std::string>& funcs) {
        const std::string exe = target_path(exe_name);
        out = temp_path("unwind");
        auto spawned = s.engine.spawn({exe, mode, std::to_string(rounds)}, output_to(out));
        REQUIRE_MESSAGE(spawned.ok(), spawned.error().message);
        pid = *spawned;
        for (const auto& f : funcs) {
            auto p = s.engine.add_probe(probe_spec(pid, f));
            REQUIRE_MESSAGE(p.ok(), (f + ": " + p.error().message));
            ids[f] = p->id;
        }
        REQUIRE(s.engine.resume(pid).ok());
        int st = s.run_until_exit(pid);
        std::string expected = run_untraced({exe, mode, std::to_string(rounds)});
        CHECK(read_file(out) == expected);
        CHECK_MESSAGE(!WIFSIGNALED(st), "killed by signal ", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        REQUIRE(WIFEXITED(st));
        CHECK(WEXITSTATUS(st) == 0);
        unlink(out.c_str());
    }

    // unwind_target leaderless ROUNDS: attaches once its main thread has
    // left, probes `funcs`, lets its worker go (SIGUSR1) and runs it to the
    // end; checks as run() does, against an untraced run let go the same way.
    void run_leaderless(const std::string& exe_name, int rounds,
                        const std::vector<std::string>& funcs) {
        const std::vector<std::string> argv = {target_path(exe_name), "leaderless",
                                               std::to_string(rounds)};
        const std::string plain_out = temp_path("unwind-leaderless-plain");
        const pid_t plain = start_announcing(argv, plain_out);
        kill(plain, SIGUSR1);
        int plain_st = 0;
        waitpid(plain, &plain_st, 0);
        const std::string expected = read_file(plain_out);
        unlink(plain_out.c_str());
        REQUIRE(WIFEXITED(plain_st));

        out = temp_path("unwind-leaderless");
        pid = start_announcing(argv, out);
        REQUIRE(wait_until_leader_left(pid));
        REQUIRE(s.engine.attach(pid).ok());
        for (const auto& f : funcs) {
            auto p = s.engine.add_probe(probe_spec(pid, f));
            REQUIRE_MESSAGE(p.ok(), (f + ": " + p.error().message));
            ids[f] = p->id;
        }
        kill(pid, SIGUSR1);
        s.run_until_exit(pid);
        CHECK_FALSE(s.engine.tracing(pid));
        int st = 0;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        CHECK(read_file(out) == expected);
        CHECK_MESSAGE(!WIFSIGNALED(st), "killed by signal ", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        REQUIRE(WIFEXITED(st));
        CHECK(WEXITSTATUS(st) == 0);
        unlink(out.c_str());
    }

    // Return events of `func`, by first argument (each value once).
    std::map<uint64_t, CallEvent> by_arg(const std::string& func) {
        std::map<uint64_t, CallEvent> m;
        for (const auto& r : s.returns_of(ids.at(func))) {
            CHECK_MESSAGE(m.count(r.args[0]) == 0, func << "(" << r.args[0] << ") twice");
            m[r.args[0]] = r;
        }
        return m;
    }
};

// unwind_target throw ROUNDS probed on outer, middle and leaf: outer(i)
// throws through middle and leaf when i % 3 == 0 and catches, so it returns
// every time (-i after a throw); middle and leaf report the exception then,
// their normal returns otherwise.
inline void check_thrown_through(UnwindRun& t, uint64_t rounds) {
    auto outer = t.by_arg("outer");
    auto middle = t.by_arg("middle");
    auto leaf = t.by_arg("leaf");
    REQUIRE(outer.size() == rounds);
    REQUIRE(middle.size() == rounds);
    REQUIRE(leaf.size() == rounds);
    for (uint64_t i = 0; i < rounds; ++i) {
        CAPTURE(i);
        bool thrown = i % 3 == 0;
        CHECK(outer[i].exit == ExitKind::Return);
        CHECK(*outer[i].retval == (thrown ? uint64_t(-int64_t(i)) : ((i * 3 + 1) + 1) * 2));
        for (auto* m : {&middle, &leaf}) {
            const CallEvent& e = (*m)[i];
            CHECK(e.exit == (thrown ? ExitKind::Exception : ExitKind::Return));
            CHECK(e.retval.has_value() == !thrown);
        }
        if (!thrown) {
            CHECK(*leaf[i].retval == i * 3 + 1);
            CHECK(*middle[i].retval == i * 3 + 2);
        }
    }
}

} // namespace probed::testing
