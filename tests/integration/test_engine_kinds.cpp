// Each first-instruction kind the engine simulates or runs out of line, in a
// real program whose result proves the instruction had its exact effect.
#include "tests/integration/pointer_auth.h"
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <set>
#include <string>

using namespace probed;
using namespace probed::testing;

namespace {

struct Kind {
    const char* function;
    arch::Strategy strategy;
    const char* instruction_prefix;
    // False for a function that cannot return through its return address
    // (arm64's kind_bl overwrites x30 first): it gets an entry probe.
    bool returns = true;
};

#if defined(__x86_64__)
constexpr Kind kKinds[] = {
    {"kind_nop", arch::Strategy::Simulate, "nop"},
    {"kind_endbr64", arch::Strategy::Simulate, "endbr64"},
    {"kind_push", arch::Strategy::Simulate, "push rbx"},
    {"kind_mov_rbp_rsp", arch::Strategy::Simulate, "mov rbp, rsp"},
    {"kind_sub_rsp", arch::Strategy::Simulate, "sub rsp"},
    {"kind_add_rsp", arch::Strategy::Simulate, "add rsp"},
    {"kind_jmp", arch::Strategy::Simulate, "jmp"},
    {"kind_call", arch::Strategy::Simulate, "call"},
    {"kind_jcc", arch::Strategy::Simulate, "jl"},
    {"kind_riprel", arch::Strategy::Boosted, "mov rax, qword ptr [rip"},
    {"kind_xor", arch::Strategy::Boosted, "xor eax, eax"},
    {"kind_indirect_call", arch::Strategy::Stepped, "call qword ptr [rip"},
};

uint64_t expected_return(const std::string& fn, uint64_t i) {
    if (fn == "kind_nop") return i + 1;
    if (fn == "kind_endbr64") return i + 2;
    if (fn == "kind_push") return i + 3;
    if (fn == "kind_mov_rbp_rsp") return i;
    if (fn == "kind_sub_rsp") return i + 4;
    if (fn == "kind_add_rsp") return i + 5;
    if (fn == "kind_jmp") return i + 6;
    if (fn == "kind_call") return i + 7;
    if (fn == "kind_jcc") return i < 10 ? 100 : 200;
    if (fn == "kind_riprel") return i + 1000;
    if (fn == "kind_xor") return i;
    if (fn == "kind_indirect_call") return i + 7;
    return ~0ull;
}

// The signals test: a stepped and a boosted kind, and what the target prints.
constexpr const char* kSignalKinds[] = {"kind_indirect_call", "kind_riprel"};
constexpr arch::Strategy kSignalStrategies[] = {arch::Strategy::Stepped, arch::Strategy::Boosted};
constexpr const char* kSignalLoopWord = "stepped";
constexpr int kSignalCalls = 30000;
constexpr int kSignalCount = 300;
// A place inside an instruction, and one the classifier refuses.
constexpr const char* kInsideInsn = "kind_riprel+0x1"; // inside `mov rax, [rip+x]`
constexpr const char* kRefused = "kind_jmp+0x2";       // the ud2 after the jump
constexpr const char* kRefusedText = "ud2";
#elif defined(__aarch64__)
constexpr Kind kKinds[] = {
    {"kind_nop", arch::Strategy::Simulate, "nop"},
    {"kind_bti", arch::Strategy::Simulate, "bti c"},
    {"kind_paciasp", arch::Strategy::Boosted, "paciasp"},
    {"kind_push_frame", arch::Strategy::Simulate, "stp x29, x30, [sp, #-0x20]!"},
    {"kind_mov_fp_sp", arch::Strategy::Simulate, "mov x29, sp"},
    {"kind_b", arch::Strategy::Simulate, "b "},
    {"kind_bl", arch::Strategy::Simulate, "bl ", false},
    {"kind_bcond", arch::Strategy::Simulate, "b.lt"},
    {"kind_cbz", arch::Strategy::Simulate, "cbz x0"},
    {"kind_tbz", arch::Strategy::Simulate, "tbz"},
    {"kind_adr", arch::Strategy::Simulate, "adr x1"},
    {"kind_adrp", arch::Strategy::Simulate, "adrp x1"},
    {"kind_ldr_literal", arch::Strategy::Simulate, "ldr x1"},
    {"kind_boosted", arch::Strategy::Boosted, "add x0, x0"},
};

uint64_t expected_return(const std::string& fn, uint64_t i) {
    if (fn == "kind_nop") return i + 1;
    if (fn == "kind_bti") return i + 2;
    if (fn == "kind_paciasp") return i + 3;
    if (fn == "kind_push_frame") return i + 4;
    if (fn == "kind_mov_fp_sp") return i;
    if (fn == "kind_b") return i + 6;
    if (fn == "kind_bcond") return i < 10 ? 100 : 200;
    if (fn == "kind_cbz") return i == 0 ? 500 : i + 8;
    if (fn == "kind_tbz") return i % 2 ? i + 9 : i + 10;
    if (fn == "kind_adr") return i + 11;
    if (fn == "kind_adrp") return i + 12;
    if (fn == "kind_ldr_literal") return i + 13;
    if (fn == "kind_boosted") return i + 14;
    return ~0ull;
}

// No instruction is stepped on arm64 unless its slot is out of reach of a
// branch back: the signal test uses a simulated kind with stores and a
// boosted one. Each ptrace stop costs far more in the emulator.
constexpr const char* kSignalKinds[] = {"kind_push_frame", "kind_boosted"};
constexpr arch::Strategy kSignalStrategies[] = {arch::Strategy::Simulate, arch::Strategy::Boosted};
constexpr const char* kSignalLoopWord = "looped";
constexpr int kSignalCalls = 3000;
constexpr int kSignalCount = 100;
constexpr const char* kInsideInsn = "kind_boosted+0x2";
constexpr const char* kRefused = "kind_ldxr+0x4"; // inside the ldxr...stxr window
constexpr const char* kRefusedText = "exclusive";
#endif

} // namespace

TEST_CASE("pointer authentication is on where the test run expects it") {
    require_expected_pointer_auth();
}

TEST_CASE("every simulated, boosted and stepped first instruction keeps the program correct") {
    constexpr int kCalls = 25;
    TraceSession s;
    std::string out = temp_path("kinds");
    auto pid = s.engine.spawn({target_path("insn_kinds"), std::to_string(kCalls)}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);

    std::map<uint64_t, std::string> by_id;
    std::set<uint64_t> entry_only;
    for (const Kind& k : kKinds) {
        ProbeSpec spec;
        spec.pid = *pid;
        spec.target = k.function;
        spec.kind = k.returns ? ProbeKind::Return : ProbeKind::Entry;
        auto probe = s.engine.add_probe(spec);
        REQUIRE_MESSAGE(probe.ok(), k.function, ": ", probe.error().message);
        CHECK_MESSAGE(probe->strategy == k.strategy, k.function, " got ",
                      arch::strategy_name(probe->strategy));
        CHECK_MESSAGE(probe->instruction.rfind(k.instruction_prefix, 0) == 0, k.function, ": ",
                      probe->instruction);
        by_id[probe->id] = k.function;
        if (!k.returns) entry_only.insert(probe->id);
    }
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "kinds " + std::to_string(kCalls) + " bad 0\n");

    for (const auto& [id, fn] : by_id) {
        CAPTURE(fn);
        if (entry_only.count(id)) {
            auto entries = s.entries_of(id);
            REQUIRE(entries.size() == kCalls);
            for (size_t i = 0; i < entries.size(); ++i) CHECK(entries[i].args[0] == i);
            continue;
        }
        auto rets = s.returns_of(id);
        REQUIRE(rets.size() == kCalls);
        for (size_t i = 0; i < rets.size(); ++i) {
            // call_jcc / call_mov_rbp_rsp pass the loop index straight through.
            CHECK(rets[i].args[0] == i);
            CHECK(*rets[i].retval == expected_return(fn, i));
            CHECK(*rets[i].duration_ns > 0);
        }
    }
    unlink(out.c_str());
}

TEST_CASE("probing inside an instruction, data and unknown names is refused cleanly") {
    TraceSession s;
    auto pid = s.engine.spawn({target_path("insn_kinds"), "3"}, quiet_spawn());
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    ProbeSpec spec;
    spec.pid = *pid;

    spec.target = kInsideInsn;
    auto inside = s.engine.add_probe(spec);
    REQUIRE_FALSE(inside.ok());
    CHECK(inside.error().message.find("inside an instruction") != std::string::npos);

    spec.target = "no_such_function_anywhere";
    auto missing = s.engine.add_probe(spec);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == ErrorKind::NotFound);

    spec.target = kRefused; // refused with a reason
    auto refused = s.engine.add_probe(spec);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::Unsupported);
    CHECK_MESSAGE(refused.error().message.find(kRefusedText) != std::string::npos,
                  refused.error().message);

    spec.pid = 999999;
    spec.target = "kind_nop";
    CHECK(s.engine.add_probe(spec).error().kind == ErrorKind::NotFound);

    // The process is untouched by the failed attempts.
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("signals arriving at hits and in slots: delivered once each, never inside a slot") {
    TraceSession s;
    std::string out = temp_path("stepsig");
    auto pid = s.engine.spawn(
        {target_path("insn_kinds"), std::to_string(kSignalCalls), "signals"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, kSignalKinds[0]));
    REQUIRE(probe.ok());
    REQUIRE(probe->strategy == kSignalStrategies[0]);
    auto boosted = s.engine.add_probe(probe_spec(*pid, kSignalKinds[1]));
    REQUIRE(boosted.ok());
    REQUIRE(boosted->strategy == kSignalStrategies[1]);
    REQUIRE(s.engine.resume(*pid).ok());
    constexpr int kSignals = kSignalCount;
    int sent = 0;
    while (sent < kSignals && !s.engine.exit_status(*pid)) {
        // Hit the step window as often as chance allows: a signal between
        // every few stops, while the loop runs.
        if (s.engine.pump(10) > 0 && kill(*pid, SIGRTMIN) == 0) ++sent;
        s.collect();
    }
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    std::string text = read_file(out);
    CHECK(text == "ready\n" + std::string(kSignalLoopWord) + " " + std::to_string(kSignalCalls) +
                      " bad 0 signals " + std::to_string(sent) + " outside 0\n");
    CHECK(sent == kSignals);
    if (kSignalStrategies[0] == arch::Strategy::Stepped)
        CHECK(s.engine.counters().steps >= static_cast<uint64_t>(kSignalCalls));
    // Every call reported once, signals or not.
    CHECK(s.returns_of(probe->id).size() == kSignalCalls);
    CHECK(s.returns_of(boosted->id).size() == kSignalCalls);
    unlink(out.c_str());
}
