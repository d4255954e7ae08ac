// Control flow that leaves probed functions without returning through their
// return address: C++ exceptions (thrown through, caught inside, rethrown,
// with cleanups), forced unwinding (pthread_exit, pthread_cancel) and
// backtrace(). The unwinder reads return addresses, so it must never see our
// trampoline; the program must behave exactly as without probes.
#include "tests/integration/pointer_auth.h"
#include "tests/integration/unwind_run.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

// Built with -mbranch-protection where the CPU authenticates return
// addresses (the arm64 PAC run), so every case unwinds signed frame records
// there; the plain builds everywhere else.
std::vector<std::string> variants() {
#if defined(__aarch64__)
    if (pointer_auth_active()) return {"unwind_target_pac_O0", "unwind_target_pac_O2"};
#endif
    return {"unwind_target_O0", "unwind_target_O2"};
}

std::string optimised_variant() {
    return variants().back();
}

} // namespace

TEST_CASE("an exception thrown through probed frames is caught as without probes") {
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        UnwindRun t;
        const int rounds = 12;
        t.run(variant, "throw", rounds, {"outer", "middle", "leaf"});
        check_thrown_through(t, rounds);
    }
}

// The program's unwinder is found through a live thread's /proc files: its
// main thread's show no mappings once it has left.
TEST_CASE("an exception thrown through probed frames after the main thread left") {
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        UnwindRun t;
        const int rounds = 12;
        t.run_leaderless(variant, rounds, {"outer", "middle", "leaf"});
        check_thrown_through(t, rounds);
    }
}

TEST_CASE("an exception thrown and caught inside a probed function") {
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        UnwindRun t;
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
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        {
            UnwindRun t;
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
            UnwindRun t;
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
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        {
            UnwindRun t;
            t.run(variant, "pthread_exit", 5, {"exiter", "middle"});
            auto ex = t.by_arg("exiter");
            REQUIRE(ex.size() == 5);
            for (auto& [arg, e] : ex) CHECK(e.exit == ExitKind::Exception);
            auto mid = t.by_arg("middle");
            REQUIRE(mid.size() == 5);
            for (auto& [arg, e] : mid) CHECK(e.exit == ExitKind::Return);
        }
        {
            UnwindRun t;
            t.run(variant, "cancel", 4, {"blocker"});
            auto bl = t.by_arg("blocker");
            REQUIRE(bl.size() == 4);
            for (auto& [arg, e] : bl) CHECK(e.exit == ExitKind::Exception);
        }
    }
}

TEST_CASE("backtrace() inside probed frames sees the true return addresses") {
    UnwindRun t;
    t.run(optimised_variant(), "backtrace", 5, {"backtracer"});
    auto bt = t.by_arg("backtracer");
    REQUIRE(bt.size() == 5);
    for (auto& [arg, e] : bt) {
        CHECK(e.exit == ExitKind::Return);
        CHECK(*e.retval == arg * 10);
    }
}
