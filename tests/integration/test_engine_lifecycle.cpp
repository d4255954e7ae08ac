// Calls that do not end in a plain return (longjmp, thread exit, detach),
// float return values, fork/vfork children, and probes removed while the
// program runs.
#include "tests/integration/trace_session.h"

#include "common/remote_ptr.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <thread>

using namespace probed;
using namespace probed::testing;


TEST_CASE("longjmp out of probed frames: reported as longjmp, never used to return") {
    TraceSession s;
    std::string out = temp_path("longjmp");
    const std::string exe = target_path("probe_target_pie_O2");
    auto pid = s.engine.spawn({exe, "longjmp", "10"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto jumper = s.engine.add_probe(probe_spec(*pid, "jumper"));
    auto deep = s.engine.add_probe(probe_spec(*pid, "deep"));
    REQUIRE(jumper.ok());
    REQUIRE(deep.ok());
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(read_file(out) == run_untraced({exe, "longjmp", "10"}));

    for (uint64_t id : {jumper->id, deep->id}) {
        auto rets = s.returns_of(id);
        REQUIRE(rets.size() == 10);
        std::map<uint64_t, CallEvent> by_arg;
        for (const auto& r : rets) by_arg[r.args[0]] = r;
        REQUIRE(by_arg.size() == 10);
        for (uint64_t i = 0; i < 10; ++i) {
            CAPTURE(i);
            const CallEvent& e = by_arg[i];
            if (i % 2 == 0) {
                CHECK(e.exit == ExitKind::Return);
                CHECK(*e.retval == (id == jumper->id ? i * 10 + 1 : i * 10));
            } else {
                // The last one is still pending when the program exits.
                CHECK(e.exit == (i == 9 ? ExitKind::ThreadExit : ExitKind::Longjmp));
                CHECK_FALSE(e.retval.has_value());
            }
        }
    }
    unlink(out.c_str());
}

TEST_CASE("float return values through xmm0") {
    TraceSession s;
    auto pid = s.engine.spawn({target_path("probe_target_pie_O2"), "float", "20"},
                              quiet_spawn());
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    ProbeSpec spec = probe_spec(*pid, "halve");
    spec.capture.float_retval = true;
    auto probe = s.engine.add_probe(spec);
    REQUIRE(probe.ok());
    REQUIRE(s.engine.resume(*pid).ok());
    REQUIRE(WIFEXITED(s.run_until_exit(*pid)));
    auto rets = s.returns_of(probe->id);
    REQUIRE(rets.size() == 20);
    for (const auto& r : rets) {
        REQUIRE(r.float_retval.has_value());
        CHECK(*r.float_retval == doctest::Approx(static_cast<double>(r.args[0]) / 2.0));
    }
}

TEST_CASE("fork children are scrubbed and released; vfork children are traced until they exit") {
    TraceSession s;
    std::string out = temp_path("fork");
    auto pid = s.engine.spawn({target_path("probe_target_pie_O0"), "fork", "20"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, "work"));
    REQUIRE(probe.ok());
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    // Every child, fork or vfork, ran the probed function and exited right.
    CHECK(read_file(out) == "fork 20 ok 20\n");
    uint64_t parent_calls = 0, vfork_calls = 0;
    for (const auto& r : s.returns_of(probe->id)) {
        CHECK(*r.retval == r.args[0] * 3 + r.args[1]);
        if (r.tid == *pid) ++parent_calls;
        else if (r.args[0] % 2 == 1) ++vfork_calls;
        else FAIL("an event from a fork child, which should have been released");
    }
    CHECK(parent_calls == 20);
    CHECK(vfork_calls == 10);
    unlink(out.c_str());
}

TEST_CASE("follow_children: fork children keep the probes and report under their own pid") {
    TraceSession s;
    std::string out = temp_path("follow");
    auto pid = s.engine.spawn({target_path("probe_target_pie_O0"), "fork", "20"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    REQUIRE(s.engine.set_follow_children(*pid, true).ok());
    auto probe = s.engine.add_probe(probe_spec(*pid, "work"));
    REQUIRE(probe.ok());
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "fork 20 ok 20\n");
    std::set<pid_t> children;
    uint64_t parent_calls = 0;
    for (const auto& r : s.returns_of(probe->id)) {
        CHECK(r.exit == ExitKind::Return);
        CHECK(*r.retval == r.args[0] * 3 + r.args[1]);
        if (r.pid == *pid) {
            ++parent_calls;
            continue;
        }
        // A fork child's own call: its pid, its one thread.
        CHECK(r.tid == r.pid);
        CHECK(r.args[0] % 2 == 0);
        CHECK(r.args[1] == 1);
        children.insert(r.pid);
    }
    CHECK(parent_calls == 20 + 10); // its own calls, and its vfork children's
    CHECK(children.size() == 10);
    CHECK(s.engine.list_processes().empty());
    unlink(out.c_str());
}

TEST_CASE("exec replaces the image: probes go, the new program runs untouched") {
    TraceSession s;
    std::string out = temp_path("exec");
    const std::string exe = target_path("probe_target_pie_O2");
    auto pid = s.engine.spawn({exe, "exec", "10"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    auto probe = s.engine.add_probe(probe_spec(*pid, "work"));
    REQUIRE(probe.ok());
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "before exec 135\nloop 10 sum 145\n");
    CHECK(s.returns_of(probe->id).size() == 10); // only the calls before exec
    CHECK(s.engine.list_probes().empty());
    // The probe's end is reported, with the reason.
    std::vector<CallEvent> lost = s.events_of_type(EventType::ProbeLost);
    REQUIRE(lost.size() == 1);
    CHECK(lost[0].probe_id == probe->id);
    CHECK(lost[0].pid == *pid);
    CHECK(lost[0].reason.find("exec") != std::string::npos);
    CHECK(lost[0].reason.find("probe_target_pie_O2") != std::string::npos);
    unlink(out.c_str());
}

TEST_CASE("rearm_on_exec: symbolic probes are resolved again in the new image") {
    TraceSession s;
    std::string out = temp_path("rearm");
    const std::string exe = target_path("probe_target_pie_O2");
    auto pid = s.engine.spawn({exe, "exec", "10"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    ProbeSpec spec = probe_spec(*pid, "work");
    spec.rearm_on_exec = true;
    auto probe = s.engine.add_probe(spec);
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    // A library function too: only mapped again once the new loader ran.
    ProbeSpec lib = probe_spec(*pid, "libc:getpid");
    lib.rearm_on_exec = true;
    REQUIRE(s.engine.add_probe(lib).ok());
    ProbeSpec gone = probe_spec(*pid, "work");
    gone.kind = ProbeKind::Entry;
    auto plain = s.engine.add_probe(gone); // not re-armed: lost at exec
    REQUIRE(plain.ok());
    ProbeSpec by_address = probe_spec(*pid, hex_address(probe->address));
    by_address.rearm_on_exec = true;
    CHECK(s.engine.add_probe(by_address).error().kind == ErrorKind::InvalidArgument);

    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "before exec 135\nloop 10 sum 145\n");
    // 10 calls before the exec (work(i, 0)) and 10 after (loop: work(i, 1)).
    auto rets = s.returns_of(probe->id);
    REQUIRE(rets.size() == 20);
    for (size_t i = 0; i < 20; ++i) {
        CAPTURE(i);
        CHECK(rets[i].pid == *pid);
        CHECK(rets[i].args[0] == i % 10);
        CHECK(rets[i].args[1] == (i < 10 ? 0u : 1u));
        CHECK(*rets[i].retval == rets[i].args[0] * 3 + rets[i].args[1]);
    }
    std::vector<CallEvent> lost = s.events_of_type(EventType::ProbeLost);
    REQUIRE(lost.size() == 1);
    CHECK(lost[0].probe_id == plain->id);
    unlink(out.c_str());
}

TEST_CASE("rearm_on_exec: a probe the new image has no symbol for ends with probe_lost") {
    TraceSession s;
    std::string out = temp_path("rearm-missing");
    const std::string exe = target_path("probe_target_pie_O2");
    const std::string other = target_path("insn_kinds"); // has no work()
    auto pid = s.engine.spawn({exe, "exec-into", "5", other, "3"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    ProbeSpec spec = probe_spec(*pid, "work");
    spec.rearm_on_exec = true;
    auto probe = s.engine.add_probe(spec);
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "before exec 30\n" + run_untraced({other, "3"}));
    CHECK(s.returns_of(probe->id).size() == 5); // before the exec
    std::vector<CallEvent> lost = s.events_of_type(EventType::ProbeLost);
    REQUIRE(lost.size() == 1);
    CHECK(lost[0].probe_id == probe->id);
    CHECK(lost[0].reason.find("not re-armed in " + other) != std::string::npos);
    CHECK(lost[0].reason.find("work") != std::string::npos);
    CHECK(s.engine.list_probes().empty());
    unlink(out.c_str());
}

TEST_CASE("detach with calls in flight restores their return addresses") {
    const std::string exe = target_path("probe_target_pie_O2");
    std::string out = temp_path("nap");
    pid_t pid = start_announcing({exe, "nap", "30"}, out);
    {
        TraceSession s;
        REQUIRE(s.engine.attach(pid).ok());
        auto probe = s.engine.add_probe(probe_spec(pid, "napper", ProbeKind::Call));
        REQUIRE(probe.ok());
        // Detach inside a call: napper has entered (and sleeps 20 ms) but not returned.
        REQUIRE(s.pump_until([&] {
            return s.returns_of(probe->id).size() >= 2 &&
                   s.entries_of(probe->id).size() > s.returns_of(probe->id).size();
        }));
        REQUIRE(s.engine.detach(pid).ok());
        s.collect();
        auto rets = s.returns_of(probe->id);
        REQUIRE(rets.size() >= 3);
        CHECK(rets.back().exit == ExitKind::Detach);
        CHECK(rets.back().args[0] == s.entries_of(probe->id).back().args[0]);
        for (size_t i = 0; i + 1 < rets.size(); ++i) {
            CHECK(rets[i].exit == ExitKind::Return);
            CHECK(*rets[i].retval == rets[i].args[0] * 2);
        }
    }
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    std::string text = read_file(out);
    CHECK(text.substr(text.find('\n') + 1) == "nap 30 sum 870\n");
    unlink(out.c_str());
}

TEST_CASE("probes removed and re-added while the program runs") {
    const std::string exe = target_path("probe_target_pie_O2");
    std::string expected = run_untraced({exe, "slow", "1000"});
    std::string out = temp_path("readd");
    pid_t pid = start_announcing({exe, "slow", "1000"}, out);
    {
        TraceSession s;
        REQUIRE(s.engine.attach(pid).ok());
        for (int round = 0; round < 5; ++round) {
            auto a = s.engine.add_probe(probe_spec(pid, "work"));
            auto b = s.engine.add_probe(probe_spec(pid, "work", ProbeKind::Entry));
            REQUIRE_MESSAGE(a.ok(), a.error().message);
            REQUIRE_MESSAGE(b.ok(), b.error().message);
            CHECK(a->address == b->address);
            // Until both fired a few times (not a fixed time: CI machines are busy).
            REQUIRE(s.pump_until([&] { return s.returns_of(a->id).size() > 3; }));
            REQUIRE(s.engine.remove_probe(a->id).ok());
            CHECK(s.engine.remove_probe(a->id).error().kind == ErrorKind::NotFound);
            s.pump_for(std::chrono::milliseconds(10));
            REQUIRE(s.engine.remove_probe(b->id).ok());
            s.pump_for(std::chrono::milliseconds(10));
            size_t seen = s.events.size();
            s.pump_for(std::chrono::milliseconds(20));
            CHECK(s.events.size() == seen); // nothing fires once removed
            CHECK(s.entries_of(b->id).size() > 3);
        }
        CHECK(s.engine.list_probes().empty());
    }
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(WIFEXITED(st));
    std::string text = read_file(out);
    CHECK(text.substr(text.find('\n') + 1) == expected.substr(expected.find('\n') + 1));
    unlink(out.c_str());
}

TEST_CASE("attach and detach 30 times while the target calls the probed function non-stop") {
    // Detach can catch a thread the instant it executes our trap; the
    // program must never see that trap.
    const std::string exe = target_path("probe_target_pie_O2");
    const uint64_t n = 400000000;
    std::string out = temp_path("busy");
    pid_t pid = start_untraced_execed({exe, "loop", std::to_string(n)}, out);
    int rounds = 0;
    uint64_t calls = 0;
    for (; rounds < 30; ++rounds) {
        TraceSession s;
        auto attached = s.engine.attach(pid);
        if (!attached.ok()) {
            MESSAGE("attach stopped after ", rounds, " rounds: ", attached.error().message);
            break; // finished already
        }
        auto probe = s.engine.add_probe(probe_spec(pid, "work", ProbeKind::Call));
        REQUIRE_MESSAGE(probe.ok(), probe.error().message);
        // A few calls, then detach at a moment that varies from round to round.
        CHECK(s.pump_until([&] { return s.returns_of(probe->id).size() > 3; }));
        s.pump_for(std::chrono::milliseconds(rounds % 7));
        REQUIRE(s.engine.detach(pid).ok());
        s.collect();
        for (const auto& r : s.returns_of(probe->id))
            if (r.exit == ExitKind::Return) CHECK(*r.retval == r.args[0] * 3 + 1);
        calls += s.returns_of(probe->id).size();
    }
    CHECK(rounds > 10);
    CHECK(calls > 100);
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "loop " + std::to_string(n) + " sum " +
                                std::to_string(3 * n * (n - 1) / 2 + n) + "\n");
    unlink(out.c_str());
}
