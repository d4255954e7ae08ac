// A probed function whose first instruction faults (fault_target): the
// program's SIGSEGV handler must see the function's own instruction, and
// whether it fixes the cause and returns or siglongjmps out, each call is
// reported once, as it ended.
#include "tests/integration/trace_session.h"

#include "arch/host.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <string>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

struct FaultRun {
    uint64_t probe_id = 0;
    std::string output;
};

// Runs fault_target MODE N with an entry+return probe on load_first; its
// output and exit status must be an untraced run's.
FaultRun run_fault_target(TraceSession& s, const std::string& mode, int n,
                          const std::string& function = "load_first") {
    const std::vector<std::string> argv = {target_path("fault_target"), mode, std::to_string(n)};
    std::string out = temp_path("fault-" + mode);
    auto pid = s.engine.spawn(argv, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, function, ProbeKind::Call));
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    auto run = s.finish(*pid, argv, out);
    CHECK(run.output == run.untraced_output);
    REQUIRE_MESSAGE(WIFEXITED(run.status), "wait status ", run.status);
    CHECK(WEXITSTATUS(run.status) == 0);
    return {probe->id, run.output};
}

// Each of the n calls reported once, returned, with expected_retval(i).
void check_calls_returned(const TraceSession& s, uint64_t probe_id, size_t n,
                          uint64_t (*expected_retval)(uint64_t)) {
    // A handler's return to the function's first instruction traps a
    // second time: that is the same call, not a new one.
    CHECK(s.entries_of(probe_id).size() == n);
    auto rets = s.returns_of(probe_id);
    REQUIRE(rets.size() == n);
    for (size_t i = 0; i < rets.size(); ++i) {
        CAPTURE(i);
        CHECK(rets[i].exit == ExitKind::Return);
        REQUIRE(rets[i].retval.has_value());
        CHECK(*rets[i].retval == expected_retval(i));
    }
}

} // namespace

TEST_CASE("a handler fixes the fault and returns: the load runs again, the call is reported once") {
    TraceSession s;
    constexpr int kCalls = 40; // every other one faults
    FaultRun run = run_fault_target(s, "retry", kCalls);
    CHECK(run.output == "retry 40: sum right, faults 20, wrong address 0, wrong pc 0, wrong code 0\n");
    check_calls_returned(s, run.probe_id, kCalls, [](uint64_t i) { return i * 3 + 1; });
    // x86_64: from the second call on the load runs in the entry stub, and
    // the re-entry goes back to it with the return already hijacked.
    const EngineCounters& c = s.engine.counters();
    CHECK(c.stub_entries == (arch::host::kEntryStubs ? kCalls - 1u : 0u));
    CHECK(c.stub_misses == 0);
}

TEST_CASE("a handler siglongjmps out of the faulting call: reported longjmp, the next call is new") {
    TraceSession s;
    constexpr int kCalls = 25;
    FaultRun run = run_fault_target(s, "recover", kCalls);
    CHECK(run.output == "recover 25: recovered 25, last call 22, wrong address 0, wrong pc 0, wrong code 0\n");
    // Each new call comes at the stack pointer of the one abandoned before
    // it, from the same place: it must not be taken for the handler
    // returning to that one.
    CHECK(s.entries_of(run.probe_id).size() == kCalls + 1);
    auto rets = s.returns_of(run.probe_id);
    REQUIRE(rets.size() == kCalls + 1);
    for (size_t i = 0; i < kCalls; ++i) {
        CAPTURE(i);
        CHECK(rets[i].exit == ExitKind::Longjmp);
        CHECK_FALSE(rets[i].retval.has_value());
    }
    CHECK(rets.back().exit == ExitKind::Return);
    REQUIRE(rets.back().retval.has_value());
    CHECK(*rets.back().retval == 22);
}

TEST_CASE("a simulated store into a guard page faults as the CPU's would, and runs once allowed") {
    // store_first's push (x86_64) / stp (arm64) is simulated: the engine
    // makes the store for the program. Where the program may not write
    // (/proc/PID/mem would: FOLL_FORCE), it must get the SIGSEGV instead,
    // or a stack overflow runs on past its guard page. With nothing mapped
    // there the CPU's fault says so (SEGV_MAPERR, not SEGV_ACCERR), and so
    // must the one the engine delivers in its place.
    for (const std::string mode : {"guard", "unmapped"}) {
        CAPTURE(mode);
        TraceSession s;
        constexpr int kCalls = 30;
        FaultRun run = run_fault_target(s, mode, kCalls, "store_first");
        CHECK(run.output == mode + " 30: wrong results 0, faults 30, wrong address 0, wrong pc 0, wrong code 0\n");
        check_calls_returned(s, run.probe_id, kCalls, [](uint64_t i) { return i + 3; });
    }
}

#if defined(__x86_64__)
TEST_CASE("a fault in a single-stepped slot: delivered at the function, the call reported once") {
    // call *(%rdi) runs stepped in its slot (it pushes the slot's address,
    // patched after the step); its load faults during the step.
    TraceSession s;
    constexpr int kCalls = 30; // every other one faults
    const std::vector<std::string> argv = {target_path("fault_target"), "stepretry",
                                           std::to_string(kCalls)};
    std::string out = temp_path("fault-stepretry");
    auto pid = s.engine.spawn(argv, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    // An entry-only probe: a return probe would leave the stepped
    // instruction to the entry stub from the second call on.
    auto probe = s.engine.add_probe(probe_spec(*pid, "call_through", ProbeKind::Entry));
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    CHECK(probe->strategy == arch::Strategy::Stepped);
    auto run = s.finish(*pid, argv, out);
    CHECK(run.output == run.untraced_output);
    CHECK(run.output == "stepretry 30: sum right, faults 15, wrong address 0, wrong pc 0, wrong code 0\n");
    REQUIRE(WIFEXITED(run.status));
    CHECK(WEXITSTATUS(run.status) == 0);
    // The handler's return to the function traps again: the same call.
    CHECK(s.entries_of(probe->id).size() == kCalls);
}
#endif
