// Each first-instruction kind the engine simulates or runs out of line, in a
// real program whose result proves the instruction had its exact effect.
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <string>

using namespace probed;
using namespace probed::testing;

namespace {

struct Kind {
    const char* function;
    arch::Strategy strategy;
    const char* instruction_prefix;
};

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

} // namespace

TEST_CASE("every simulated, boosted and stepped first instruction keeps the program correct") {
    constexpr int kCalls = 25;
    TraceSession s;
    std::string out = temp_path("kinds");
    auto pid = s.engine.spawn({target_path("insn_kinds"), std::to_string(kCalls)}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);

    std::map<uint64_t, std::string> by_id;
    for (const Kind& k : kKinds) {
        ProbeSpec spec;
        spec.pid = *pid;
        spec.target = k.function;
        spec.kind = ProbeKind::Return;
        auto probe = s.engine.add_probe(spec);
        REQUIRE_MESSAGE(probe.ok(), k.function, ": ", probe.error().message);
        CHECK_MESSAGE(probe->strategy == k.strategy, k.function, " got ",
                      arch::strategy_name(probe->strategy));
        CHECK_MESSAGE(probe->instruction.rfind(k.instruction_prefix, 0) == 0, k.function, ": ",
                      probe->instruction);
        by_id[probe->id] = k.function;
    }
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "kinds " + std::to_string(kCalls) + " bad 0\n");

    for (const auto& [id, fn] : by_id) {
        CAPTURE(fn);
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

    spec.target = "kind_riprel+0x1"; // inside `mov rax, [rip+x]`
    auto inside = s.engine.add_probe(spec);
    REQUIRE_FALSE(inside.ok());
    CHECK(inside.error().message.find("inside an instruction") != std::string::npos);

    spec.target = "no_such_function_anywhere";
    auto missing = s.engine.add_probe(spec);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == ErrorKind::NotFound);

    spec.target = "kind_jmp+0x2"; // the ud2 after the jump: refused with a reason
    auto ud2 = s.engine.add_probe(spec);
    REQUIRE_FALSE(ud2.ok());
    CHECK(ud2.error().kind == ErrorKind::Unsupported);
    CHECK(ud2.error().message.find("ud2") != std::string::npos);

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
    auto pid = s.engine.spawn({target_path("insn_kinds"), "30000", "signals"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, "kind_indirect_call"));
    REQUIRE(probe.ok());
    REQUIRE(probe->strategy == arch::Strategy::Stepped);
    auto boosted = s.engine.add_probe(probe_spec(*pid, "kind_riprel"));
    REQUIRE(boosted.ok());
    REQUIRE(boosted->strategy == arch::Strategy::Boosted);
    REQUIRE(s.engine.resume(*pid).ok());
    constexpr int kSignals = 300;
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
    CHECK(text == "ready\nstepped 30000 bad 0 signals " + std::to_string(sent) + " outside 0\n");
    CHECK(sent == kSignals);
    CHECK(s.engine.counters().steps >= 30000);
    // Every call reported once, signals or not.
    CHECK(s.returns_of(probe->id).size() == 30000);
    CHECK(s.returns_of(boosted->id).size() == 30000);
    unlink(out.c_str());
}
