// Exceptions through probed frames whose return addresses are signed (arm64
// pointer authentication): each frame record holds our trampoline address
// signed by the function's prologue, which the program's unwinder
// authenticates. While it walks, the tracee signs the true return address
// for us; after the catch the frames still alive get their signed
// trampoline back and return through it (daemon/engine_unwind_signed.cpp).
// On x86_64 and arm64 without PAC the same runs check the plain restore.
#include "tests/integration/pointer_auth.h"
#include "tests/integration/unwind_run.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

std::vector<std::string> variants() {
#if defined(__aarch64__)
    // -mbranch-protection=standard (paciasp) at -O0 and -O2, and
    // pac-ret+b-key (pacibsp) at -O2.
    return {"unwind_target_pac_O0", "unwind_target_pac_O2", "unwind_target_pacb_O2"};
#else
    return {"unwind_target_O0", "unwind_target_O2"};
#endif
}

// One descend() call as reported: first argument, depth, how it ended and
// its return value (0 when it has none).
using Call = std::tuple<uint64_t, uint64_t, ExitKind, uint64_t>;

// What deep_outer(i) makes descend() report: descend(i, 4..0), all unwound
// by the exception when i is even, else each returning i + depth; then
// descend(i | 1, 2..0), returning normally through frames hijacked after the
// catch.
std::vector<Call> expected_descend_calls(uint64_t rounds) {
    std::vector<Call> calls;
    for (uint64_t i = 0; i < rounds; ++i) {
        const bool thrown = i % 2 == 0;
        for (uint64_t d = 0; d <= 4; ++d)
            calls.emplace_back(i, d, thrown ? ExitKind::Exception : ExitKind::Return,
                               thrown ? 0 : i + d);
        for (uint64_t d = 0; d <= 2; ++d)
            calls.emplace_back(i | 1, d, ExitKind::Return, (i | 1) + d);
    }
    std::sort(calls.begin(), calls.end());
    return calls;
}

// The deepest descend() call's duration: from its entry hit to its report
// at the catch, it is what the exception cost (the program's two-phase walk
// and our stops at the unwinder's entry and at the catch, with the signing).
uint64_t exception_ns(UnwindRun& t) {
    for (const CallEvent& r : t.s.returns_of(t.ids.at("descend")))
        if (r.args[1] == 0 && r.duration_ns) return *r.duration_ns;
    return 0;
}

// Runs deepthrow DEPTH probed on descend(): one exception through DEPTH + 1
// pending frames, each holding one signed copy with pointer authentication.
// Prints what it cost (a figure, not a check: it depends on the machine).
void throw_through(const std::string& variant, uint64_t depth) {
    UnwindRun t;
    t.run(variant, "deepthrow", int(depth), {"descend"});
    auto rets = t.s.returns_of(t.ids.at("descend"));
    CHECK(rets.size() == depth + 1);
    for (const CallEvent& r : rets) CHECK(r.exit == ExitKind::Exception);
    // One unwinder entry found every frame's record holding a signed copy.
    const auto& counters = t.s.engine.counters();
    MESSAGE(variant << ": an exception through " << depth + 1 << " probed frames took "
                    << exception_ns(t) / 1000 << " us; " << counters.signed_for_unwind
                    << " signed copies, " << counters.signing_stub_runs << " stub runs");
    if (pointer_auth_active()) {
        CHECK(counters.signed_for_unwind == depth + 1);
        // Batched: many frames per run of the stub, not a run per frame
        // (daemon/return_signer.h).
        CHECK(counters.signing_stub_runs > 0);
        CHECK(counters.signing_stub_runs * 4 <= counters.signed_for_unwind);
    } else {
        CHECK(counters.signed_for_unwind == 0);
        CHECK(counters.signing_stub_runs == 0);
    }
}

} // namespace

TEST_CASE("pointer authentication is on where the test run expects it") {
    require_expected_pointer_auth();
}

TEST_CASE("an exception through several signed probed frames: caught, and the calls go on") {
    constexpr uint64_t kRounds = 8; // 4 throws through 5 pending descend() frames each
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        UnwindRun t;
        t.run(variant, "deep", kRounds, {"deep_outer", "descend"});

        // deep_outer catches, so it is alive after the catch: it returns
        // normally, through its trampoline, every time.
        auto outer = t.by_arg("deep_outer");
        REQUIRE(outer.size() == kRounds);
        for (uint64_t i = 0; i < kRounds; ++i) {
            CAPTURE(i);
            const bool thrown = i % 2 == 0;
            const int64_t first = thrown ? -int64_t(i) : int64_t(i + 4);
            CHECK(outer[i].exit == ExitKind::Return);
            REQUIRE(outer[i].retval.has_value());
            CHECK(int64_t(*outer[i].retval) == first + int64_t((i | 1) + 2) * 100);
        }

        std::vector<Call> got;
        for (const CallEvent& r : t.s.returns_of(t.ids.at("descend"))) {
            REQUIRE(r.exit.has_value());
            CHECK(r.retval.has_value() == (*r.exit == ExitKind::Return));
            got.emplace_back(r.args[0], r.args[1], *r.exit, r.retval.value_or(0));
        }
        std::sort(got.begin(), got.end());
        CHECK(got == expected_descend_calls(kRounds));

        // With pointer authentication every throw found the 6 pending frames
        // (deep_outer and 5 descend) each holding one signed copy, its frame
        // record, which the tracee signed for: the CPU really signed them.
        const uint64_t signed_copies = t.s.engine.counters().signed_for_unwind;
        MESSAGE(variant << ": " << signed_copies << " signed copies signed for the unwinder");
        if (pointer_auth_active()) CHECK(signed_copies == 6 * kRounds / 2);
        else CHECK(signed_copies == 0);
    }
}


TEST_CASE("an exception through a thousand signed probed frames") {
    // Deep enough that some frame's paciasp gave the trampoline address an
    // authentication code of 0 (7 bits with 48-bit addresses: all 1001
    // avoid it one run in 2600), a signed copy bit for bit the plain
    // address, which must get the true address signed for the unwinder too
    // (daemon/copy_form.h).
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        throw_through(variant, 1000);
    }
}

TEST_CASE("an exception through three hundred signed probed frames") {
    // The second figure of what an exception costs; one variant is enough.
    const std::string variant = variants().back();
    CAPTURE(variant);
    throw_through(variant, 300);
}

TEST_CASE("outer, middle and leaf through signed frames, round after round") {
    constexpr uint64_t kRounds = 9; // throws at 0, 3 and 6
    for (const std::string& variant : variants()) {
        CAPTURE(variant);
        UnwindRun t;
        t.run(variant, "throw", kRounds, {"outer", "middle", "leaf"});
        check_thrown_through(t, kRounds);
        const uint64_t signed_copies = t.s.engine.counters().signed_for_unwind;
        MESSAGE(variant << ": " << signed_copies << " signed copies signed for the unwinder");
        if (pointer_auth_active()) CHECK(signed_copies == 3 * 3); // outer, middle, leaf per throw
        else CHECK(signed_copies == 0);
    }
}
