// Control flow that leaves probed functions without returning through their
// return address: C++ exceptions (thrown through, caught inside, rethrown,
// with cleanups), forced unwinding (pthread_exit, pthread_cancel) and
// backtrace(). The unwinder reads return addresses, so it must never see our
// trampoline; the program must behave exactly as without probes.
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>

using namespace probed;
using namespace probed::testing;

namespace {

struct Traced {
    TraceSession s;
    std::string out;
    pid_t pid = 0;
    std::map<std::string, uint64_t> ids;

    // Spawns unwind_target MODE ROUNDS held, probes `funcs`, runs it to the
    // end and checks its output equals an untraced run's.
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

const char* kVariants[] = {"unwind_target_O0", "unwind_target_O2"};

} // namespace

TEST_CASE("an exception thrown through probed frames is caught as without probes") {
    for (const char* variant : kVariants) {
        CAPTURE(std::string(variant));
        Traced t;
        const int rounds = 12;
        t.run(variant, "throw", rounds, {"outer", "middle", "leaf"});
        auto outer = t.by_arg("outer");
        auto middle = t.by_arg("middle");
        auto leaf = t.by_arg("leaf");
        REQUIRE(outer.size() == rounds);
        REQUIRE(middle.size() == rounds);
        REQUIRE(leaf.size() == rounds);
        for (uint64_t i = 0; i < rounds; ++i) {
            CAPTURE(i);
            bool thrown = i % 3 == 0;
            // outer catches: it always returns, with -i after a throw.
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
}

TEST_CASE("an exception thrown and caught inside a probed function") {
    for (const char* variant : kVariants) {
        CAPTURE(std::string(variant));
        Traced t;
        t.run(variant, "self_catch", 8, {"self_catch"});
        auto sc = t.by_arg("self_catch");
        REQUIRE(sc.size() == 8);
        for (auto& [arg, e] : sc) {
            CHECK(e.exit == ExitKind::Return);
            CHECK(*e.retval == (arg % 2 ? uint64_t(-int64_t(arg)) : arg));
        }
    }
}

TEST_CASE("rethrown exceptions and cleanups that call probed functions") {
    for (const char* variant : kVariants) {
        CAPTURE(std::string(variant));
        {
            Traced t;
            t.run(variant, "rethrow", 6, {"rethrower", "middle", "leaf"});
            for (const char* f : {"rethrower", "middle"}) {
                auto m = t.by_arg(f);
                REQUIRE(m.size() == 6);
                for (auto& [arg, e] : m) CHECK(e.exit == ExitKind::Exception);
            }
        }
        {
            // Each with_cleanup(i) unwinds through a destructor that calls
            // leaf(1, 0) while the exception is in flight: that call returns
            // normally, the frames being unwound report the exception.
            Traced t;
            t.run(variant, "cleanup", 6, {"with_cleanup", "middle", "leaf"});
            auto wc = t.by_arg("with_cleanup");
            REQUIRE(wc.size() == 6);
            for (auto& [arg, e] : wc) CHECK(e.exit == ExitKind::Exception);
            size_t normal_leaf = 0, unwound_leaf = 0;
            for (const auto& r : t.s.returns_of(t.ids["leaf"])) {
                if (r.exit == ExitKind::Return) {
                    CHECK(r.args[0] == 1);
                    CHECK(*r.retval == 4);
                    ++normal_leaf;
                } else {
                    CHECK(r.exit == ExitKind::Exception);
                    ++unwound_leaf;
                }
            }
            CHECK(normal_leaf == 6);
            CHECK(unwound_leaf == 6);
        }
    }
}

TEST_CASE("pthread_exit and pthread_cancel unwind probed frames") {
    for (const char* variant : kVariants) {
        CAPTURE(std::string(variant));
        {
            Traced t;
            t.run(variant, "pthread_exit", 5, {"exiter", "middle"});
            auto ex = t.by_arg("exiter");
            REQUIRE(ex.size() == 5);
            for (auto& [arg, e] : ex) CHECK(e.exit == ExitKind::Exception);
            auto mid = t.by_arg("middle");
            REQUIRE(mid.size() == 5);
            for (auto& [arg, e] : mid) CHECK(e.exit == ExitKind::Return);
        }
        {
            Traced t;
            t.run(variant, "cancel", 4, {"blocker"});
            auto bl = t.by_arg("blocker");
            REQUIRE(bl.size() == 4);
            for (auto& [arg, e] : bl) CHECK(e.exit == ExitKind::Exception);
        }
    }
}

TEST_CASE("backtrace() inside probed frames sees the true return addresses") {
    Traced t;
    t.run("unwind_target_O2", "backtrace", 5, {"backtracer"});
    auto bt = t.by_arg("backtracer");
    REQUIRE(bt.size() == 5);
    for (auto& [arg, e] : bt) {
        CHECK(e.exit == ExitKind::Return);
        CHECK(*e.retval == arg * 10);
    }
}
