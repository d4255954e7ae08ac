// The engine against real spawned targets: single thread, recursion, every
// build variant, libc functions.
#include "tests/integration/pointer_auth.h"
#include "tests/integration/probed_run.h"
#include "tests/integration/trace_session.h"

#include "arch/host.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

struct ProbedRun {
    pid_t pid;
    uint64_t probe_id;
};

// Spawns argv, probes `work` with `kind` and runs the program to its end,
// which must be a normal exit with the output of an untraced run.
ProbedRun run_with_work_probed(TraceSession& s, const std::vector<std::string>& argv,
                               ProbeKind kind) {
    std::string out = temp_path("work");
    auto pid = s.engine.spawn(argv, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, "work", kind));
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    auto run = s.finish(*pid, argv, out);
    REQUIRE(WIFEXITED(run.status));
    CHECK(WEXITSTATUS(run.status) == 0);
    CHECK(run.output == run.untraced_output);
    return {*pid, probe->id};
}

} // namespace

TEST_CASE("pointer authentication is on where the test run expects it") {
    require_expected_pointer_auth();
}

TEST_CASE("single-thread loop: every call reported with args and return value") {
    std::vector<const char*> variants = {"probe_target_pie_O0", "probe_target_pie_O2",
                                         "probe_target_nopie", "probe_target_static"};
#if defined(__aarch64__)
    variants.push_back("probe_target_pac"); // signed return addresses, BTI pads
#endif
    for (const char* variant : variants) {
        CAPTURE(variant);
        TraceSession s;
        const auto [pid, probe_id] =
            run_with_work_probed(s, {target_path(variant), "loop", "500"}, ProbeKind::Call);
        auto rets = s.returns_of(probe_id);
        auto ents = s.entries_of(probe_id);
        REQUIRE(rets.size() == 500);
        CHECK(ents.size() == 500);
        for (size_t i = 0; i < rets.size(); ++i) {
            REQUIRE(rets[i].args.size() == 6);
            CHECK(rets[i].args[0] == i);
            CHECK(rets[i].args[1] == 1);
            REQUIRE(rets[i].retval.has_value());
            CHECK(*rets[i].retval == i * 3 + 1);
            CHECK(rets[i].exit == ExitKind::Return);
            CHECK(rets[i].function == "work");
            CHECK(rets[i].pid == pid);
            CHECK(rets[i].tid == pid);
        }
        // One call site: from the second call on, an entry stub (x86_64)
        // hijacks the return in the tracee, and never misses.
        const EngineCounters& c = s.engine.counters();
        CHECK(c.stub_entries == (arch::host::kEntryStubs ? 499u : 0u));
        CHECK(c.stub_misses == 0);
    }
}

TEST_CASE("100 call sites, more than get their own return trampoline: every return right") {
    // x86_64 gives each return address its own trampoline, up to a cap; the
    // call sites past it return through the generic one. Either way each
    // call must return where it came from, with its value reported.
    for (std::string variant : {"probe_target_pie_O0", "probe_target_pie_O2"}) {
        CAPTURE(variant);
        TraceSession s;
        const auto [pid, probe_id] = run_with_work_probed(
            s, {target_path(variant), "call-sites", "3"}, ProbeKind::Return);
        auto rets = s.returns_of(probe_id);
        REQUIRE(rets.size() == 300);
        for (size_t i = 0; i < rets.size(); ++i) {
            CAPTURE(i);
            CHECK(rets[i].args[0] == i % 100);
            REQUIRE(rets[i].retval.has_value());
            CHECK(*rets[i].retval == (i % 100) * 3 + 1);
            CHECK(rets[i].exit == ExitKind::Return);
        }
        // The first call made a stub for its own return address; every call
        // from the next sites missed it until it was given up, and no call
        // used it after that.
        const EngineCounters& c = s.engine.counters();
        const uint64_t judged = arch::host::kEntryStubs ? kEntryStubMissesBeforeJudging : 0;
        CHECK(c.stub_misses == judged);
        CHECK(c.stub_entries == judged);
    }
}

TEST_CASE("recursion 1000 deep: every return value right, innermost first") {
    std::vector<const char*> variants = {"probe_target_pie_O0"};
#if defined(__aarch64__)
    // Each level stores the signed trampoline address and authenticates it.
    variants.push_back("probe_target_pac");
#endif
    for (const char* variant : variants) {
        CAPTURE(variant);
        TraceSession s;
        auto pid = s.engine.spawn({target_path(variant), "recurse", "1000"}, quiet_spawn());
        REQUIRE_MESSAGE(pid.ok(), pid.error().message);
        auto probe = s.engine.add_probe(probe_spec(*pid, "recurse"));
        REQUIRE_MESSAGE(probe.ok(), probe.error().message);
        REQUIRE(s.engine.resume(*pid).ok());
        int st = s.run_until_exit(*pid);
        REQUIRE(WIFEXITED(st));
        auto rets = s.returns_of(probe->id);
        REQUIRE(rets.size() == 1001);
        for (size_t i = 0; i < rets.size(); ++i) {
            uint64_t n = rets[i].args[0];
            CHECK(n == i);
            CHECK(*rets[i].retval == n * (n + 1) / 2);
        }
    }
}

TEST_CASE("an entry probe on a function's second instruction, under a pending return probe") {
    // The hit inside work() comes at the stack pointer work() was entered
    // with: it must not take work()'s own pending frame for one left by
    // longjmp (it did: the return then found no frame and the program got
    // SIGTRAP; found by bench/fuzz).
    const std::string exe = target_path("probe_target_pie_O2");
    TraceSession s;
    std::string out = temp_path("second-insn");
    auto pid = s.engine.spawn({exe, "loop", "500"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto call = s.engine.add_probe(probe_spec(*pid, "work", ProbeKind::Call));
    REQUIRE_MESSAGE(call.ok(), call.error().message);
    // The next instruction boundary, as the engine finds it (a probe inside
    // an instruction is refused).
    Result<ProbeInfo> inner = make_error(ErrorKind::NotFound, "no second instruction");
    for (int off = 1; off < 16 && !inner; ++off)
        inner = s.engine.add_probe(probe_spec(*pid, "work+" + std::to_string(off), ProbeKind::Entry));
    REQUIRE_MESSAGE(inner.ok(), inner.error().message);
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == run_untraced({exe, "loop", "500"}));
    auto rets = s.returns_of(call->id);
    REQUIRE(rets.size() == 500);
    for (size_t i = 0; i < rets.size(); ++i) {
        CHECK(rets[i].exit == ExitKind::Return);
        CHECK(*rets[i].retval == i * 3 + 1);
    }
    CHECK(s.entries_of(inner->id).size() == 500);
    unlink(out.c_str());
}

TEST_CASE("a tail call between two return-probed functions returns where the caller would") {
    // At -O2 tail_caller ends in `b`/`jmp tail_callee`: tail_callee starts
    // with our trampoline as its return address (it returned there again,
    // found no frame and the program got SIGTRAP).
    TraceSession s;
    auto ids = run_like_untraced(s, {target_path("probe_target_pie_O2"), "tail", "200"},
                                 {"tail_caller", "tail_callee"});
    CHECK(s.entries_of(ids[0]).size() == 200);
    auto rets = s.returns_of(ids[1]);
    REQUIRE(rets.size() == 200);
    for (size_t i = 0; i < rets.size(); ++i) {
        CHECK(rets[i].exit == ExitKind::Return);
        CHECK(*rets[i].retval == (i + 1) * 5);
    }
}

TEST_CASE("libc:getpid returns the target's own pid") {
    TraceSession s;
    std::string out = temp_path("getpid");
    auto pid = s.engine.spawn({target_path("probe_target_pie_O2"), "getpid", "50"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, "libc:getpid"));
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    CHECK(probe->module.find("libc") != std::string::npos);
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(read_file(out) == "getpid 50 same 50\n");
    auto rets = s.returns_of(probe->id);
    CHECK(rets.size() >= 50);
    for (const auto& r : rets) CHECK(*r.retval == static_cast<uint64_t>(*pid));
    unlink(out.c_str());
}

TEST_CASE("a stripped executable is probed through its build-id debuginfo") {
    const char* debug_root = std::getenv("PROBED_TEST_DEBUGINFO");
    REQUIRE(debug_root != nullptr);
    TraceSession s;
    auto pid = s.engine.spawn({target_path("probe_target_stripped"), "loop", "20"},
                              quiet_spawn());
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);

    unsetenv("PROBED_DEBUGINFO_PATH");
    auto without = s.engine.add_probe(probe_spec(*pid, "work"));
    REQUIRE_FALSE(without.ok());
    CHECK(without.error().kind == ErrorKind::NotFound);

    setenv("PROBED_DEBUGINFO_PATH", debug_root, 1);
    auto probe = s.engine.add_probe(probe_spec(*pid, "work"));
    unsetenv("PROBED_DEBUGINFO_PATH");
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    REQUIRE(s.engine.resume(*pid).ok());
    REQUIRE(WIFEXITED(s.run_until_exit(*pid)));
    auto rets = s.returns_of(probe->id);
    REQUIRE(rets.size() == 20);
    for (const auto& r : rets) CHECK(*r.retval == r.args[0] * 3 + 1);
}

TEST_CASE("memory reads through the engine never show our breakpoints") {
    TraceSession s;
    auto pid = s.engine.spawn({target_path("probe_target_pie_O2"), "loop", "5"},
                              quiet_spawn());
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, "work"));
    REQUIRE(probe.ok());
    // 4 bytes before the site (one instruction on arm64), the site, and after.
    auto hidden = s.engine.read_memory(*pid, probe->address - 4, 12);
    REQUIRE_MESSAGE(hidden.ok(), hidden.error().message);
    ProcMem raw_mem = std::move(ProcMem::open(*pid).value());
    std::vector<uint8_t> raw(12);
    REQUIRE(raw_mem.read(probe->address - 4, raw).ok());
    const std::vector<uint8_t> trap = arch::host::breakpoint_bytes();
    auto trap_at_site = [&](const std::vector<uint8_t>& bytes) {
        return std::equal(trap.begin(), trap.end(), bytes.begin() + 4);
    };
    CHECK(trap_at_site(raw));           // the trap is really there
    CHECK_FALSE(trap_at_site(*hidden)); // and never shown
    CHECK((*hidden)[0] == raw[0]);
    REQUIRE(s.engine.resume(*pid).ok());
    REQUIRE(WIFEXITED(s.run_until_exit(*pid)));
}
