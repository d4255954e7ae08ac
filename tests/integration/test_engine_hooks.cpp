// The engine's own breakpoints on the program's unwinder (unwind_hooks.h)
// live exactly as long as they are needed: from the first return probe to
// the last one (and the last hijacked frame), and per module from its load
// to its unload.
#include "daemon/proc_mem.h"
#include "daemon/symbol_resolver.h"
#include "daemon/unwind_hooks.h"
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

// Every unwinder entry point the engine hooks, in every module now loaded.
std::vector<FunctionDefinition> hook_definitions(pid_t pid) {
    std::vector<std::string> scanned;
    auto found = find_definitions(pid, unwind_hook_names(), {}, scanned);
    REQUIRE_MESSAGE(found.ok(), found.error().message);
    return *found;
}

// Whether a breakpoint of ours is in memory at `address`: the raw bytes of
// /proc/PID/mem differ from the program's view (the engine hides its traps).
bool trapped(TraceSession& s, pid_t pid, uint64_t address) {
    auto mem = ProcMem::open(pid);
    REQUIRE_MESSAGE(mem.ok(), mem.error().message);
    std::vector<uint8_t> raw(8);
    REQUIRE(mem->read(address, raw).ok());
    auto seen = s.engine.read_memory(pid, address, raw.size());
    REQUIRE_MESSAGE(seen.ok(), seen.error().message);
    return raw != *seen;
}

size_t hooks_trapped(TraceSession& s, pid_t pid, const std::vector<FunctionDefinition>& defs) {
    size_t n = 0;
    for (const auto& d : defs) n += trapped(s, pid, d.address);
    return n;
}

size_t breakpoints_of(TraceSession& s, pid_t pid) {
    for (const auto& p : s.engine.process_summaries())
        if (p.pid == pid) return p.breakpoints;
    FAIL("pid ", pid, " is not traced");
    return 0;
}

// A target left waiting by a failed check must not outlive the test (it
// would hold the test's output open).
struct KillOnExit {
    pid_t pid;
    ~KillOnExit() {
        if (pid > 0) kill(pid, SIGKILL);
    }
};

bool output_has(const std::string& path, const std::string& line) {
    return read_file(path).find(line) != std::string::npos;
}

} // namespace

TEST_CASE("unwinder hooks leave with the last return probe, after its last pending frame") {
    const std::string exe = target_path("unwind_target_O2");
    std::string out = temp_path("hooks");
    TraceSession s;
    auto spawned = s.engine.spawn({exe, "steps"}, output_to(out));
    REQUIRE_MESSAGE(spawned.ok(), spawned.error().message);
    const pid_t pid = *spawned;
    KillOnExit guard{pid};
    auto defs = hook_definitions(pid);
    // libgcc_s's throw and resume, libstdc++'s catch, the loader's r_brk...
    REQUIRE(defs.size() >= 4);
    CHECK(breakpoints_of(s, pid) == 0);

    std::vector<uint64_t> ids;
    for (const char* f : {"outer", "middle", "leaf"}) {
        auto p = s.engine.add_probe(probe_spec(pid, f));
        REQUIRE_MESSAGE(p.ok(), p.error().message);
        ids.push_back(p->id);
    }
    CHECK(hooks_trapped(s, pid, defs) == defs.size());
    REQUIRE(s.engine.resume(pid).ok());
    // SIGUSR1 is blocked from here on (before, it would end the program).
    REQUIRE(s.pump_until([&] { return output_has(out, "ready\n"); }));

    // Step 0: an exception through probed frames, with the hooks.
    kill(pid, SIGUSR1);
    REQUIRE(s.pump_until([&] { return output_has(out, "outer 0 = 0\n"); }));
    REQUIRE(s.returns_of(ids[0]).size() == 1);
    CHECK(s.returns_of(ids[0])[0].exit == ExitKind::Return);
    REQUIRE(s.returns_of(ids[2]).size() == 1);
    CHECK(s.returns_of(ids[2])[0].exit == ExitKind::Exception);

    // No return probe left (and no frame pending): no breakpoint of ours.
    for (uint64_t id : ids) REQUIRE(s.engine.remove_probe(id).ok());
    CHECK(hooks_trapped(s, pid, defs) == 0);
    CHECK(breakpoints_of(s, pid) == 0);

    // Step 1 runs untouched.
    kill(pid, SIGUSR1);
    REQUIRE(s.pump_until([&] { return output_has(out, "outer 1 = -1\n"); }));

    // A return probe again: the hooks are back.
    auto parker = s.engine.add_probe(probe_spec(pid, "parker"));
    REQUIRE_MESSAGE(parker.ok(), parker.error().message);
    CHECK(hooks_trapped(s, pid, defs) == defs.size());
    kill(pid, SIGUSR1);
    REQUIRE(s.pump_until([&] { return output_has(out, "parked 2\n"); }));

    // parker's frame is pending, its return address hijacked: removing the
    // probe must leave the hooks for the exception about to go through it.
    REQUIRE(s.engine.remove_probe(parker->id).ok());
    CHECK(hooks_trapped(s, pid, defs) == defs.size());
    kill(pid, SIGUSR1);
    REQUIRE(s.pump_until([&] { return output_has(out, "caught leaf 2\n"); }));
    // The catch ended that frame: nothing of ours is left.
    REQUIRE(s.pump_until([&] { return breakpoints_of(s, pid) == 0; }));
    CHECK(hooks_trapped(s, pid, defs) == 0);

    kill(pid, SIGUSR1);
    int st = s.run_until_exit(pid);
    guard.pid = 0; // reaped
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == "ready\nouter 0 = 0\nouter 1 = -1\nparked 2\ncaught leaf 2\ndone\n");
    unlink(out.c_str());
}

TEST_CASE("a library unloaded and loaded again elsewhere gets its unwinder hooked again") {
    const std::string exe = target_path("dlopen_target");
    const std::string lib = target_path("libwalker.so");
    const std::string expected = run_untraced({exe, "run", lib});
    REQUIRE(expected.find("loaded twice") != std::string::npos);
    std::string out = temp_path("dlopen");
    pid_t pid = start_announcing({exe, "wait", lib}, out);
    KillOnExit guard{pid};
    {
        TraceSession s;
        auto attached = s.engine.attach(pid);
        REQUIRE_MESSAGE(attached.ok(), attached.error().message);
        auto probe = s.engine.add_probe(probe_spec(pid, "walk_through"));
        REQUIRE_MESSAGE(probe.ok(), probe.error().message);
        kill(pid, SIGUSR1);
        REQUIRE(s.pump_until([&] { return output_has(out, "loaded twice\n"); }));

        // Both walks went through walk_through's hijacked return address
        // with this load's _Unwind_Backtrace hooked.
        auto rets = s.returns_of(probe->id);
        REQUIRE(rets.size() == 2);
        for (const auto& r : rets) CHECK(r.exit == ExitKind::Return);
        CHECK(rets[0].retval == rets[1].retval);
        size_t walker_hooks = 0;
        for (const auto& d : hook_definitions(pid)) {
            if (d.module.find("libwalker") == std::string::npos) continue;
            ++walker_hooks;
            CAPTURE(d.name);
            CHECK(trapped(s, pid, d.address));
        }
        CHECK(walker_hooks >= 4);
        // Detach with the first load's pages taken by the program's own
        // data: its forgotten hooks must not be written back there.
        REQUIRE(s.engine.detach(pid).ok());
    }
    kill(pid, SIGUSR1);
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    guard.pid = 0;
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    std::string text = read_file(out);
    CHECK(text.substr(text.find('\n') + 1) == expected.substr(expected.find('\n') + 1));
    unlink(out.c_str());
}
