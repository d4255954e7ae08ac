// Letting go of calls pending inside probed functions whose return addresses
// are signed (arm64 pointer authentication), at detach and in a released
// fork child: the tracee re-signs their true return addresses
// (daemon/signed_release.h), so they return to their callers without us and
// nothing of ours stays in the process. On x86_64 and arm64 without PAC the
// same tests check the plain restore.
#include "tests/integration/pointer_auth.h"
#include "tests/integration/probed_run.h"
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

constexpr int kThreads = 4;

// The program's output after its "ready" line.
std::string without_ready_line(const std::string& text) {
    return text.substr(text.find('\n') + 1);
}

// Runs `argv` (a mode that waits for SIGUSR1, then SIGUSR2) untraced to its
// end; its output after the ready line.
std::string untraced_signalled_run(const std::vector<std::string>& argv) {
    std::string out = temp_path("signalled-untraced");
    pid_t pid = start_announcing(argv, out);
    kill(pid, SIGUSR1);
    kill(pid, SIGUSR2);
    int st = 0;
    waitpid(pid, &st, 0);
    REQUIRE(WIFEXITED(st));
    REQUIRE(WEXITSTATUS(st) == 0);
    std::string text = without_ready_line(read_file(out));
    unlink(out.c_str());
    return text;
}

// How many of pid's threads sleep in the kernel (state S): past every
// prologue of the calls they are blocked in.
size_t sleeping_threads(pid_t pid) {
    size_t n = 0;
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(dir)) {
        std::string stat = read_file(task.path() / "stat");
        auto close = stat.rfind(')');
        if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'S') ++n;
    }
    return n;
}

// The program's variants whose every function signs x30 where the CPU can.
std::vector<std::string> signing_variants() {
#if defined(__aarch64__)
    // -mbranch-protection=pac-ret+leaf+bti: every function signs x30.
    return {"probe_target_pac"};
#else
    return {"probe_target_pie_O0", "probe_target_pie_O2"};
#endif
}

struct DetachOutcome {
    uint64_t reported_detach = 0; // calls reported exit: "detach"
    uint64_t reported = 0;        // calls reported at all
    uint64_t signed_at_detach = 0;
    uint64_t detached_returns = 0;
    uint64_t zero_code_link_registers = 0;
};

// Attaches to `argv` (started untraced, announcing "ready"), probes
// `functions`, sends SIGUSR1, waits until `entries` calls entered and
// `sleepers` threads sleep inside them, and detaches. After the detach no
// mapping of ours may remain; then SIGUSR2 lets the calls finish, and the
// program must exit as an untraced run does, with its output.
DetachOutcome detach_with_calls_pending(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& functions,
                                        size_t entries, size_t sleepers) {
    const std::string expected = untraced_signalled_run(argv);
    std::string out = temp_path("signalled");
    pid_t pid = start_announcing(argv, out);
    const auto mappings_before = anonymous_code_mappings(pid);
    DetachOutcome o;
    {
        TraceSession s;
        REQUIRE(s.engine.attach(pid).ok());
        std::vector<uint64_t> ids;
        for (const std::string& f : functions) {
            auto p = s.engine.add_probe(probe_spec(pid, f, ProbeKind::Call));
            REQUIRE_MESSAGE(p.ok(), p.error().message);
            ids.push_back(p->id);
        }
        CHECK(anonymous_code_mappings(pid).size() > mappings_before.size());
        kill(pid, SIGUSR1);
        // Every call entered and signed its return address: the threads
        // wait in the kernel.
        REQUIRE(s.pump_until([&] {
            size_t n = 0;
            for (uint64_t id : ids) n += s.entries_of(id).size();
            return n == entries && sleeping_threads(pid) == sleepers;
        }, std::chrono::seconds(120)));
        REQUIRE(s.engine.detach(pid).ok());
        s.collect();
        for (uint64_t id : ids)
            for (const CallEvent& r : s.returns_of(id)) {
                ++o.reported;
                o.reported_detach += r.exit == ExitKind::Detach;
            }
        o.signed_at_detach = s.engine.counters().signed_at_detach;
        o.detached_returns = s.engine.counters().detached_returns;
        o.zero_code_link_registers = s.engine.counters().zero_code_link_registers;
    }
    // Nothing of ours is left: neither the page with the trampoline nor a
    // table mapping (the pending calls need no stub).
    CHECK(anonymous_code_mappings(pid) == mappings_before);
    // Let the calls finish, long after we have gone.
    kill(pid, SIGUSR2);
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK_MESSAGE(!WIFSIGNALED(st), "killed by signal ", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(without_ready_line(read_file(out)) == expected);
    unlink(out.c_str());
    return o;
}

// With pointer authentication every pending call kept a signed copy, which
// the tracee re-signed; none was left to the detached-return stub. Without
// it the plain copies were all put back and nothing was signed.
void check_resigned(const DetachOutcome& o, uint64_t calls) {
    CHECK(o.reported == calls);
    CHECK(o.reported_detach == calls);
    if (pointer_auth_active()) CHECK(o.signed_at_detach == calls);
    else CHECK(o.signed_at_detach == 0);
    CHECK(o.detached_returns == 0);
}

} // namespace

TEST_CASE("pointer authentication is on where the test run expects it") {
    require_expected_pointer_auth();
}

TEST_CASE("detach with calls pending in signed frames: re-signed, they return without us") {
    for (const std::string& variant : signing_variants()) {
        CAPTURE(variant);
        const std::vector<std::string> argv = {target_path(variant), "blocked",
                                               std::to_string(kThreads)};
        auto o = detach_with_calls_pending(argv, {"blocked_outer", "blocked_inner"},
                                           2 * kThreads, kThreads + 1);
        check_resigned(o, 2 * kThreads);
    }
}

TEST_CASE("detach re-signs each thread's frames with that thread's keys (PR_PAC_RESET_KEYS)") {
    // Each thread resets its keys before entering the probed calls: a copy
    // signed on another thread would fail the check and need the stub.
    for (const std::string& variant : signing_variants()) {
        CAPTURE(variant);
        const std::vector<std::string> argv = {target_path(variant), "blocked",
                                               std::to_string(kThreads), "rekey"};
        const std::string untraced = untraced_signalled_run(argv);
        const std::string rekeyed = "rekeyed " +
                                    std::to_string(pointer_auth_active() ? kThreads : 0) +
                                    " of " + std::to_string(kThreads) + " threads";
        CHECK(untraced.find(rekeyed) != std::string::npos);
        auto o = detach_with_calls_pending(argv, {"blocked_outer", "blocked_inner"},
                                           2 * kThreads, kThreads + 1);
        check_resigned(o, 2 * kThreads);
    }
}

TEST_CASE("detach with more signed calls pending than the page's table holds") {
    // Up to 1001 calls pending on one thread: more than the 252 entries the
    // detached-return table has room for in the trampoline's page, which a
    // stub would have needed a mapping of its own for. And deep enough that
    // some frame's paciasp gave our trampoline address an authentication
    // code of 0 (7 bits with 48-bit addresses: all 1001 avoid it one run in
    // 2600), a signed copy bit for bit the plain address, which must get the
    // true address signed too (daemon/copy_form.h).
    for (const std::string& variant : signing_variants())
        for (int kDepth : {20, 300, 1000}) {
        CAPTURE(variant);
        CAPTURE(kDepth);
        const std::vector<std::string> argv = {target_path(variant), "deepblocked",
                                               std::to_string(kDepth)};
        auto o = detach_with_calls_pending(argv, {"blocked_depth"}, kDepth + 1, 1);
        check_resigned(o, kDepth + 1);
    }
}

TEST_CASE("detach with threads asleep in a signed leaf: x30 re-signed, codes of 0 included") {
    // Each of 1024 threads sleeps inside leaf_wait, its hijacked return
    // address signed in x30 by the leaf's paciasp (pac-ret+leaf) and kept
    // there. One in 128 of those signed values has an authentication code of
    // 0 and reads as the plain trampoline address: only the code ahead (an
    // autiasp before the ret) says it is signed, and a plain true address
    // there would fail the autiasp after the detach. Some thread has such a
    // code in all but 1 run in 3,800 (1 - (127/128)^1024).
    constexpr int kLeafThreads = 1024;
    const std::vector<std::string> argv = {target_path("leaf_wait_target"), "blocked",
                                           std::to_string(kLeafThreads)};
    auto o = detach_with_calls_pending(argv, {"leaf_wait"}, kLeafThreads, kLeafThreads + 1);
    check_resigned(o, kLeafThreads);
    if (pointer_auth_active()) CHECK(o.zero_code_link_registers > 0);
    else CHECK(o.zero_code_link_registers == 0);
}

TEST_CASE("a fork child released inside signed frames returns from them without us") {
#if defined(__aarch64__)
    const std::string exe = target_path("probe_target_pac");
#else
    const std::string exe = target_path("probe_target_pie_O0");
#endif
    constexpr int kForks = 5;
    TraceSession s;
    // Each child exited with its own code (printed by the parent), not
    // SIGTRAP from our page.
    auto ids = run_like_untraced(s, {exe, "forkin", std::to_string(kForks)}, {"fork_inside"});
    auto rets = s.returns_of(ids[0]);
    REQUIRE(rets.size() == kForks);
    for (const CallEvent& r : rets) CHECK(r.exit == ExitKind::Return);
    // Each child signed its copy of the call itself: none needed the stub.
    const uint64_t resigned = s.engine.counters().signed_in_fork_children;
    if (pointer_auth_active()) CHECK(resigned == kForks);
    else CHECK(resigned == 0);
    CHECK(s.engine.counters().detached_fork_children == 0);
}

TEST_CASE("a fork child released a thousand signed frames deep returns through them all") {
    // 1001 probed calls pending at the fork, each frame holding a signed
    // copy of our trampoline address: deep enough that some paciasp gave it
    // an authentication code of 0 (7 bits with 48-bit addresses: all 1001
    // avoid it one run in 2600), a signed copy bit for bit the plain
    // address, which the child must get the true address signed into too
    // (daemon/copy_form.h), or that frame's autiasp rejects it.
    constexpr long kDepth = 1000;
    constexpr uint64_t kModulus = 1000003;
    // fork_depth(n) for n = 0..kDepth, from its bottom's result (1 in the
    // parent, 2 in the child).
    auto results_from = [&](uint64_t bottom) {
        std::vector<uint64_t> r{bottom};
        for (long n = 1; n <= kDepth; ++n) r.push_back((r.back() * 3 + n) % kModulus);
        return r;
    };
    const std::vector<uint64_t> parent = results_from(1);
    const uint64_t child_exit = results_from(2).back() % 200 + 10;
    for (const std::string& variant : signing_variants()) {
        CAPTURE(variant);
        const std::vector<std::string> argv = {target_path(variant), "deepforkin",
                                               std::to_string(kDepth)};
        // The child exited with the code its own results give (the parent
        // prints it, and the traced output must be the untraced one), not
        // killed by a rejected return address.
        CHECK(run_untraced(argv) == "deepforkin " + std::to_string(kDepth) + " parent " +
                                        std::to_string(parent.back()) + " child exit " +
                                        std::to_string(child_exit) + "\n");
        TraceSession s;
        auto ids = run_like_untraced(s, argv, {"fork_depth"});
        // The parent's calls return, innermost first, each with its value.
        auto rets = s.returns_of(ids[0]);
        REQUIRE(rets.size() == parent.size());
        for (size_t i = 0; i < rets.size(); ++i) {
            CAPTURE(i);
            CHECK(rets[i].exit == ExitKind::Return);
            REQUIRE(rets[i].args.size() > 0);
            CHECK(rets[i].args[0] == i);
            CHECK(rets[i].retval == parent[i]);
        }
        // The child signed the true address into every one of its frames
        // itself: none needed the stub.
        const uint64_t resigned = s.engine.counters().signed_in_fork_children;
        if (pointer_auth_active()) CHECK(resigned == parent.size());
        else CHECK(resigned == 0);
        CHECK(s.engine.counters().detached_fork_children == 0);
    }
}
