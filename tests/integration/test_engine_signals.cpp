// Signal handlers and probes: handlers on a sigaltstack that call probed
// functions while the interrupted code has return probes pending, handlers
// that siglongjmp out through probed frames, and queued signals arriving
// while several threads hit probes (none may be lost or delivered twice).
#include "tests/integration/fire_probes.h"
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <map>
#include <set>
#include <string>

using namespace probed;
using namespace probed::testing;

namespace {

// Return probes on `names` of a spawned fire_target; nothing runs yet.
std::map<std::string, uint64_t> probe_all(TraceSession& s, pid_t pid,
                                          const std::vector<std::string>& names) {
    std::map<std::string, uint64_t> ids;
    for (const auto& name : names) {
        auto probe = s.engine.add_probe(probe_spec(pid, name));
        REQUIRE_MESSAGE(probe.ok(), name, ": ", probe.error().message);
        ids[name] = probe->id;
    }
    return ids;
}

struct HandlerRun {
    std::map<std::string, uint64_t> ids; // probe ids by function
    std::string output;                  // the program's, equal to an untraced run's
};

// Runs fire_target MODE N to its end with return probes on the signal
// handler's functions and the frames it interrupts; its output must be an
// untraced run's.
HandlerRun run_handler_mode(TraceSession& s, const std::string& mode, uint64_t n) {
    const std::vector<std::string> argv = {target_path("fire_target"), mode, std::to_string(n)};
    std::string out = temp_path(mode);
    auto pid = s.engine.spawn(argv, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    HandlerRun run;
    run.ids = probe_all(s, *pid, {"sig_outer", "sig_middle", "handler_work", "level1",
                                  "jump_from_handler"});
    auto finished = s.finish(*pid, argv, out);
    run.output = finished.output;
    CHECK(run.output == finished.untraced_output);
    if (mode.ends_with("-above")) {
        // fire_target's own check that the layout is the hard one.
        CHECK(run.output.starts_with(
            "altstack less than 16 MiB above the thread's stack 1, same mapping 0\n"));
    }
    REQUIRE_MESSAGE(WIFEXITED(finished.status), "wait status ", finished.status);
    CHECK(WEXITSTATUS(finished.status) == 0);
    return run;
}

std::map<uint64_t, CallEvent> by_first_arg(const std::vector<CallEvent>& events) {
    std::map<uint64_t, CallEvent> out;
    for (const auto& e : events) out[e.args.at(0)] = e;
    return out;
}

// The handler's own calls: level1(0, i) and handler_work(i), always returning.
void check_handler_calls(TraceSession& s, const std::map<std::string, uint64_t>& ids, uint64_t n) {
    auto work = by_first_arg(s.returns_of(ids.at("handler_work")));
    REQUIRE(work.size() == n);
    for (const auto& [i, e] : work) {
        CAPTURE(i);
        CHECK(e.exit == ExitKind::Return);
        CHECK(e.retval == i * 5 + 1);
    }
    // level1(0, i): by the second argument.
    std::map<uint64_t, CallEvent> level1;
    for (const auto& e : s.returns_of(ids.at("level1"))) level1[e.args.at(1)] = e;
    REQUIRE(level1.size() == n);
    for (const auto& [i, e] : level1) {
        CAPTURE(i);
        CHECK(e.exit == ExitKind::Return);
        CHECK(e.retval == 5 * i + 2021);
    }
}

// The frames a handler interrupted (pending while it ran on the altstack)
// return normally, with the handler's result, and nothing is taken for
// unwound by a longjmp.
void check_interrupted_frames_return(TraceSession& s, const std::map<std::string, uint64_t>& ids,
                                     uint64_t n) {
    check_handler_calls(s, ids, n);
    auto middle = by_first_arg(s.returns_of(ids.at("sig_middle")));
    auto outer = by_first_arg(s.returns_of(ids.at("sig_outer")));
    auto jump = by_first_arg(s.returns_of(ids.at("jump_from_handler")));
    REQUIRE(middle.size() == n);
    REQUIRE(outer.size() == n);
    REQUIRE(jump.size() == n);
    for (uint64_t i = 0; i < n; ++i) {
        CAPTURE(i);
        CHECK(middle[i].exit == ExitKind::Return);
        CHECK(middle[i].retval == 11 * i + 2022);
        CHECK(outer[i].exit == ExitKind::Return);
        CHECK(outer[i].retval == 2 * (11 * i + 2022));
        CHECK(jump[i].exit == ExitKind::Return);
        CHECK(jump[i].retval == i);
    }
    size_t longjmps = 0;
    for (const auto& e : s.events_of_type(EventType::Return)) longjmps += e.exit == ExitKind::Longjmp;
    CHECK(longjmps == 0);
}

// Odd calls jump from the handler (on the altstack) back to the loop,
// skipping jump_from_handler there and sig_middle/sig_outer on the thread's
// stack: all three end "longjmp" (the last one is still pending when the
// thread ends). Even calls return normally.
void check_jumped_frames(TraceSession& s, const std::map<std::string, uint64_t>& ids, uint64_t n) {
    check_handler_calls(s, ids, n);
    for (std::string name : {"sig_outer", "sig_middle", "jump_from_handler"}) {
        CAPTURE(name);
        auto calls = by_first_arg(s.returns_of(ids.at(name)));
        REQUIRE(calls.size() == n);
        for (uint64_t i = 0; i < n; ++i) {
            CAPTURE(i);
            const CallEvent& e = calls[i];
            if (i % 2 == 0) {
                CHECK(e.exit == ExitKind::Return);
                REQUIRE(e.retval.has_value());
            } else {
                REQUIRE(e.exit.has_value());
                CHECK(std::string(exit_kind_name(*e.exit)) ==
                      (i == n - 1 ? "thread_exit" : "longjmp"));
                CHECK_FALSE(e.retval.has_value());
            }
        }
    }
}

// Where the altstack lies: far from the thread's stack (mmap's choice); less
// than 16 MiB above it with only a guard page between, in a mapping of its
// own; or mapped just before pthread_create, which on recent kernels puts
// the new thread's stack right below it. A distance rule took the last two
// for the thread's stack: the handler's calls, above the interrupted frames
// and close by, made those look unwound, and their returns then found no
// shadow frame (SIGTRAP).
const char* kLayouts[] = {"", "-above", "-thread"};

// The kernel merges adjacent anonymous mappings of equal flags: where the
// thread's stack and the altstack mapped before it became one mapping, no
// rule by mapping can tell them apart (docs/unwinding.md, limits).
bool stacks_mapped_apart(const std::string& mode, uint64_t n) {
    std::string layout =
        run_untraced({target_path("fire_target"), mode, std::to_string(n)});
    return layout.find("same mapping 0\n") != std::string::npos;
}

} // namespace

TEST_CASE("sigaltstack handlers call probed functions, then return or siglongjmp out") {
    // altstack: the handler returns and the interrupted calls go on;
    // sigjmp: every other handler leaves by siglongjmp through probed
    // frames on both stacks.
    constexpr uint64_t n = 200;
    for (std::string layout : kLayouts) {
        for (bool jumps : {false, true}) {
            const std::string mode = (jumps ? "sigjmp" : "altstack") + layout;
            CAPTURE(mode);
            if (layout == "-thread" && !stacks_mapped_apart(mode, n)) {
                MESSAGE(mode, ": this kernel merged the thread's stack with its altstack; skipped");
                continue;
            }
            TraceSession s;
            auto run = run_handler_mode(s, mode, n);
            if (jumps) check_jumped_frames(s, run.ids, n);
            else check_interrupted_frames_return(s, run.ids, n);
        }
    }
}

TEST_CASE("queued signals while 4 threads hit probes: each delivered once, handler calls traced") {
    const std::string exe = target_path("fire_target");
    TraceSession s;
    std::string out = temp_path("sigstorm");
    auto pid = s.engine.spawn({exe, "sigstorm", "4"}, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    std::vector<std::string> names = {"handler_work"};
    for (const FireFunction& f : fire_functions()) names.push_back(f.name);
    auto ids = probe_all(s, *pid, names);
    REQUIRE(s.engine.resume(*pid).ok());
    REQUIRE(s.pump_until([&] { return read_file(out).find("ready") != std::string::npos; }));

    // A signal right after each worker hit we handle (the moment a thread
    // is between its hit and its resume, or in a slot), each carrying its
    // number. Only worker hits count: the signals' own stops and handler
    // calls must not keep the storm going while the workers starve.
    const uint64_t handler_id = ids.at("handler_work");
    auto worker_events = [&] {
        size_t n = 0;
        for (const auto& e : s.events) n += e.probe_id != handler_id;
        return n;
    };
    constexpr int kSignals = 400;
    int sent = 0;
    size_t seen = 0;
    while (sent < kSignals && !s.engine.exit_status(*pid)) {
        s.engine.pump(10);
        s.collect();
        size_t now = worker_events();
        if (now == seen) continue;
        seen = now;
        sigval v{};
        v.sival_int = sent;
        if (sigqueue(*pid, SIGRTMIN, v) == 0) ++sent;
    }
    REQUIRE(sent == kSignals);
    kill(*pid, SIGINT);
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    std::string expected;
    for (int t = 0; t < 4; ++t)
        expected += "thread " + std::to_string(t) + ": every result and the sum match the closed form\n";
    expected += "signals received " + std::to_string(kSignals) + ", handler results wrong 0\n";
    std::string text = read_file(out);
    CHECK(text.substr(text.find('\n') + 1) == expected);

    // Every signal's handler call reported once, with its own value.
    std::set<uint64_t> values;
    for (const auto& r : s.returns_of(ids.at("handler_work"))) {
        CHECK(r.exit == ExitKind::Return);
        CHECK(r.retval == r.args.at(0) * 5 + 1);
        values.insert(r.args.at(0));
    }
    CHECK(values.size() == kSignals);
    CHECK(s.returns_of(ids.at("handler_work")).size() == kSignals);
    // The workers' calls interrupted by those handlers returned right.
    for (const FireFunction& f : fire_functions()) {
        CAPTURE(f.name);
        auto rets = s.returns_of(ids.at(f.name));
        CHECK_FALSE(rets.empty());
        for (const auto& r : rets) {
            // Still running when the process exited: none, every worker ends its call.
            std::string exit_name = r.exit ? exit_kind_name(*r.exit) : "none";
            CAPTURE(exit_name);
            CAPTURE(r.tid);
            CHECK(r.exit == ExitKind::Return);
            CHECK(r.retval == f.expected(r.args));
        }
    }
    unlink(out.c_str());
}
