// A process whose main thread has left with pthread_exit while other
// threads run on. Its leader is a zombie: ptrace cannot seize it, it never
// stops for an interrupt, its exit is reported only after every other
// thread's, and its /proc/PID files show no memory, maps or auxv.
#include "daemon/process_maps.h"
#include "daemon/process_selector.h"
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

// Probes work() in a running leader_exit_target whose main leaves when
// told (before the attach, or once calls were seen), probes it again once
// the main thread has left (the symbols and code are read through a live
// thread's /proc files), and detaches, all within a time limit: on a
// thread of its own, so that a stop that never comes fails the test
// instead of hanging it. The worker's 3000 calls last the whole test even
// on a slow VM, and it finishes them untraced.
enum class After { Detach, ProbeAgain };
constexpr int kWorkerCalls = 3000;

void check_probe_and_detach(bool attach_after_leader_left, After after) {
    const std::string out = temp_path("leaderexit");
    pid_t pid = start_announcing({target_path("leader_exit_target"), "leaderexit", "signal",
                                  std::to_string(kWorkerCalls)},
                                 out);
    if (attach_after_leader_left) {
        kill(pid, SIGUSR1);
        REQUIRE(wait_until_leader_left(pid));
    }
    auto run = std::async(std::launch::async, [&]() -> std::string {
        TraceSession s;
        if (auto a = s.engine.attach(pid); !a.ok()) return "attach: " + a.error().message;
        auto calls_seen = [&](uint64_t id) -> std::string {
            if (!s.pump_until([&] { return s.returns_of(id).size() >= 20; })) return "no calls seen";
            for (const CallEvent& e : s.returns_of(id))
                if (*e.retval != e.args.at(0) * 5 + 2) return "wrong return value";
            return "";
        };
        auto first = s.engine.add_probe(probe_spec(pid, "work"));
        if (!first.ok()) return "probe: " + first.error().message;
        if (auto e = calls_seen(first->id); !e.empty()) return e;
        // The main thread leaves while we trace.
        if (!attach_after_leader_left) kill(pid, SIGUSR1);
        if (!s.pump_until([&] { return thread_state(pid) == 'Z'; })) return "main never left";
        if (after == After::ProbeAgain) {
            if (auto r = s.engine.remove_probe(first->id); !r.ok())
                return "remove: " + r.error().message;
            auto again = s.engine.add_probe(probe_spec(pid, "work"));
            if (!again.ok()) return "probe again: " + again.error().message;
            if (auto e = calls_seen(again->id); !e.empty()) return e;
        }
        // A detach stops every thread: the zombie leader never stops.
        if (auto d = s.engine.detach(pid); !d.ok()) return "detach: " + d.error().message;
        return "";
    });
    if (run.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
        kill(pid, SIGKILL);
        run.wait();
        FAIL("attach, probe and detach did not finish within 60 s");
    }
    CHECK(run.get() == "");
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK_MESSAGE(WIFEXITED(st), "wait status ", st);
    CHECK(read_file(out) == "ready\ndone " + std::to_string(kWorkerCalls) + " bad 0\n");
    unlink(out.c_str());
}

// Starts leader_exit_target with `args`, attaches once its main thread
// has left, probes work() and runs it to its end; returns its wait status
// and output.
std::pair<int, std::string> trace_to_end(TraceSession& s, const std::vector<std::string>& args,
                                         uint64_t& probe_id) {
    const std::string out = temp_path("leaderexit-end");
    std::vector<std::string> argv = {target_path("leader_exit_target")};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t pid = start_announcing(argv, out);
    REQUIRE(wait_until_leader_left(pid));
    REQUIRE(s.engine.attach(pid).ok());
    auto probe = s.engine.add_probe(probe_spec(pid, "work"));
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    probe_id = probe->id;
    const int st = s.run_until_exit(pid, std::chrono::seconds(30));
    CHECK_FALSE(s.engine.tracing(pid));
    waitpid(pid, nullptr, 0);
    const std::string output = read_file(out);
    unlink(out.c_str());
    return {st, output};
}

} // namespace

TEST_CASE("the main thread leaves while traced, then a detach") {
    check_probe_and_detach(false, After::Detach);
}

TEST_CASE("the main thread leaves while traced, then the worker is probed again") {
    check_probe_and_detach(false, After::ProbeAgain);
}

TEST_CASE("attach to a process whose main thread has left") {
    check_probe_and_detach(true, After::ProbeAgain);
}

// Traced to its end: the last thread's exit ends the process (the leader's
// own comes after it, if at all).
TEST_CASE("a process whose main thread left is reported ended with its last thread") {
    TraceSession s;
    uint64_t probe = 0;
    auto [st, output] = trace_to_end(s, {"leaderexit", "0", "1000"}, probe);
    CHECK_MESSAGE(WIFEXITED(st), "wait status ", st);
    CHECK(output == "ready\ndone 1000 bad 0\n");
    CHECK(s.returns_of(probe).size() > 0);
}

// The worker execs: the kernel gives it the leader's tid and reports the
// exec under that tid, which belongs to the same process, not a new one:
// the probe is reported lost to the exec, and the new image runs on.
TEST_CASE("a thread of a process whose main thread left execs") {
    TraceSession s;
    uint64_t probe = 0;
    auto [st, output] = trace_to_end(s, {"leaderexit", "0", "1000", "exec"}, probe);
    CHECK_MESSAGE(WIFEXITED(st), "wait status ", st);
    CHECK(output == "ready\ndone 1000 bad 0\nexeced 7\n");
    // Those after the attach (the worker starts before the main thread leaves).
    const auto returns = s.returns_of(probe);
    CHECK(returns.size() > 50);
    for (const CallEvent& e : returns) CHECK(*e.retval == e.args.at(0) * 5 + 2);
    const auto lost = s.events_of_type(EventType::ProbeLost);
    REQUIRE(lost.size() == 1);
    CHECK(lost[0].probe_id == probe);
}

// The service's selectors match processes by executable: the leader's
// /proc/PID/exe is gone with its memory, a running thread's is not.
TEST_CASE("a process whose main thread left is still known by its executable") {
    const std::string out = temp_path("leaderexit-exe");
    const std::string exe = target_path("leader_exit_target");
    pid_t pid = start_announcing({exe, "leaderexit", "0", "100000"}, out);
    REQUIRE(wait_until_leader_left(pid));
    auto facts = read_process_facts(pid);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    unlink(out.c_str());
    REQUIRE(facts.ok());
    CHECK(facts->exe == std::filesystem::canonical(exe).string());
}

// Symbols are read through a live thread's /proc files; what is not found
// is reported for the process the user named.
TEST_CASE("a missing symbol in a process whose main thread left names the process") {
    const std::string out = temp_path("leaderexit-missing");
    pid_t pid =
        start_announcing({target_path("leader_exit_target"), "leaderexit", "0", "100000"}, out);
    REQUIRE(wait_until_leader_left(pid));
    {
        TraceSession s;
        REQUIRE(s.engine.attach(pid).ok());
        const std::string named = "pid " + std::to_string(pid);
        auto missing = s.engine.add_probe(probe_spec(pid, "no_such_function"));
        REQUIRE_FALSE(missing.ok());
        CHECK_MESSAGE(missing.error().message.find(named + " ") != std::string::npos,
                      missing.error().message);
        auto no_lib = s.engine.add_probe(probe_spec(pid, "libnosuch:work"));
        REQUIRE_FALSE(no_lib.ok());
        CHECK_MESSAGE(no_lib.error().message.find(named + " ") != std::string::npos,
                      no_lib.error().message);
        auto not_code = s.engine.add_probe(probe_spec(pid, "0x10"));
        REQUIRE_FALSE(not_code.ok());
        CHECK_MESSAGE(not_code.error().message.find(named) != std::string::npos,
                      not_code.error().message);
        // The process is intact: still probed and detached cleanly.
        auto work = s.engine.add_probe(probe_spec(pid, "work"));
        REQUIRE_MESSAGE(work.ok(), work.error().message);
        REQUIRE(s.engine.detach(pid).ok());
    }
    // Still running after all that, until we end it.
    CHECK(thread_state(pid) == 'Z');
    kill(pid, SIGKILL);
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK_MESSAGE((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL), "wait status ", st);
    CHECK(read_file(out) == "ready\n");
    unlink(out.c_str());
}

// A stack taken while the main thread lived, then one after it left: the
// second is read through a live thread's files, not the leader's, which
// show no modules any more.
TEST_CASE("stacks of a process before and after its main thread left") {
    const std::string out = temp_path("leaderexit-stack");
    pid_t pid = start_announcing(
        {target_path("leader_exit_target"), "leaderexit", "signal", "100000"}, out);
    {
        TraceSession s;
        REQUIRE(s.engine.attach(pid).ok());
        auto has_worker = [](const StackTrace& t) {
            for (const StackFrame& f : t.frames)
                if (f.function == "worker" &&
                    f.module.find("leader_exit_target") != std::string::npos)
                    return true;
            return false;
        };
        std::optional<pid_t> worker;
        for (const auto& task :
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task"))
            if (pid_t tid = std::stoi(task.path().filename()); tid != pid) worker = tid;
        REQUIRE(worker);
        auto before = s.engine.stack(pid, worker);
        REQUIRE_MESSAGE(before.ok(), before.error().message);
        CHECK(has_worker(*before));
        kill(pid, SIGUSR1); // the main thread leaves
        REQUIRE(s.pump_until([&] { return thread_state(pid) == 'Z'; }));
        auto after = s.engine.stack(pid, worker);
        REQUIRE_MESSAGE(after.ok(), after.error().message);
        CHECK_MESSAGE(has_worker(*after), after->frames.size(), " frames");
        auto of_process = s.engine.stack(pid, std::nullopt);
        REQUIRE_MESSAGE(of_process.ok(), of_process.error().message);
        CHECK(has_worker(*of_process));
        REQUIRE(s.engine.detach(pid).ok());
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    unlink(out.c_str());
}

// The main thread leaves while traced, with nothing asked of the engine
// after: its hits alone must cope.
// - SIGTRAP's disposition is looked at in the leader's /proc/PID/stat, which
//   still shows the process's handlers while it is a zombie (its signal
//   handlers live until the whole process ends): the handler stays the
//   program's, never taken for one our traps reset.
// - Stacks captured at hits are unwound through a live thread's files once
//   the leader's show no modules.
TEST_CASE("hits after the main thread left unnoticed: SIGTRAP handler and captured stacks") {
    const std::string out = temp_path("leaderexit-handler");
    pid_t pid = start_announcing(
        {target_path("leader_exit_target"), "leaderexit", "signal", "1500", "handler"}, out);
    TraceSession s;
    REQUIRE(s.engine.attach(pid).ok());
    ProbeSpec spec = probe_spec(pid, "work");
    spec.capture.stack = true;
    auto probe = s.engine.add_probe(spec);
    REQUIRE_MESSAGE(probe.ok(), probe.error().message);
    REQUIRE(s.pump_until([&] { return s.returns_of(probe->id).size() >= 20; }));
    kill(pid, SIGUSR1); // the main thread leaves
    REQUIRE(s.pump_until([&] { return thread_state(pid) == 'Z'; }));
    const size_t before = s.returns_of(probe->id).size();
    const int st = s.run_until_exit(pid, std::chrono::seconds(60));
    CHECK_MESSAGE(WIFEXITED(st), "wait status ", st);
    waitpid(pid, nullptr, 0);
    CHECK(read_file(out) == "ready\ndone 1500 bad 0\nhandler kept\n");
    unlink(out.c_str());
    const auto returns = s.returns_of(probe->id);
    REQUIRE(returns.size() > before + 100);
    size_t unwound = 0;
    for (size_t i = before; i < returns.size(); ++i) {
        const auto& stack = returns[i].stack;
        if (!stack) continue;
        for (const StackFrame& f : stack->frames) unwound += f.function == "worker";
    }
    CHECK(unwound == returns.size() - before);
    // Read at attach; never reset by a trap of ours (the worker does not
    // block SIGTRAP), so never put back.
    CHECK(s.engine.counters().sigtrap_reads >= 1);
    CHECK(s.engine.counters().sigtrap_restores == 0);
}

// Nothing reports the main thread's leaving: until the engine looks, it
// takes the leader's files for the process's, and those show no mappings
// from that moment. An empty answer is asked again of another thread.
TEST_CASE("a process's mappings are read through a live thread when the leader's show none") {
    const std::string out = temp_path("leaderexit-maps");
    pid_t pid = start_announcing(
        {target_path("leader_exit_target"), "leaderexit", "0", "100000"}, out);
    REQUIRE(wait_until_leader_left(pid));
    pid_t worker = 0;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task"))
        if (pid_t tid = std::stoi(task.path().filename()); tid != pid) worker = tid;
    REQUIRE(worker != 0);
    ProcessState believed; // as the engine knows it before it has looked
    believed.pid = pid;
    believed.threads[pid].tid = pid;
    believed.threads[worker].tid = worker;
    REQUIRE(believed.proc_files_tid() == pid);
    auto leaders = read_proc_maps(pid);
    REQUIRE(leaders.ok());
    CHECK(leaders->empty());
    auto maps = read_process_maps(believed);
    REQUIRE(maps.ok());
    CHECK_FALSE(maps->empty());
    // Stack bounds too: by mapping (two mappings of the program, adjacent,
    // are two regions), not by the distance rule nor "nothing is mapped".
    REQUIRE(maps->size() >= 2);
    const MapEntry& a = (*maps)[0];
    const MapEntry& b = (*maps)[1];
    REQUIRE(b.start - a.start < kFallbackStackSpan);
    ProcessStackBounds stacks = process_stack_bounds(believed);
    CHECK(stacks.same_stack(a.start, a.end - 8));
    CHECK_FALSE(stacks.same_stack(a.start, b.start));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    unlink(out.c_str());
}
