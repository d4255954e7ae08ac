// Our stacks against gdb's: the same program stopped at the same depth, once
// traced by us with a return probe pending on every level of the recursion
// (every return address on the stack replaced by our trampoline), once
// untraced and shown by `gdb -batch -ex bt`. The function sequences must be
// equal, for every build variant, including one whose code has no CFI.
#include "tests/integration/stack_checks.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>

using namespace probed;
using namespace probed::testing;

namespace {

bool have_gdb() { return std::system("gdb --version >/dev/null 2>&1") == 0; }

// Function names of `gdb -p PID -batch -ex bt`, frame by frame; gdb looks
// for separate debuginfo where we do.
std::vector<std::string> gdb_backtrace(pid_t pid, const std::string& debug_root) {
    std::string cmd = "gdb -nx -batch -iex 'set debug-file-directory " + debug_root +
                      ":/usr/lib/debug' -p " + std::to_string(pid) + " -ex bt 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string text;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
    pclose(p);
    // "#12 0x000055555555513d in deep::dive (n=11) at stack_target.cpp:41"
    // "#0  nap () at stack_target.cpp:22"
    static const std::regex frame(R"(^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \()");
    std::vector<std::string> names;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string line = text.substr(pos, eol - pos);
        std::smatch m;
        if (std::regex_search(line, m, frame)) {
            CHECK(std::stoul(m[1]) == names.size());
            names.push_back(m[2]);
        }
        pos = eol + 1;
    }
    INFO("gdb said:\n" << text);
    CHECK(names.size() > kStackDepth);
    return names;
}

// The build whose untraced bt is the reference for `variant`: the variant
// itself, except where gdb cannot unwind it. gdb 13's aarch64 prologue
// analyser stops at the first -O2 frame without CFI ("previous frame
// identical to this frame"), so there the reference is the same source and
// flags with CFI: the function sequence of one program state does not depend
// on whether the binary describes its frames.
std::string gdb_reference_for(const std::string& variant) {
#if defined(__aarch64__)
    if (variant == "stack_target_nocfi") return "stack_target_fp";
#endif
    return variant;
}

} // namespace

TEST_CASE("100 frames deep with returns pending on every level: our stack equals gdb's bt") {
    if (!have_gdb()) {
        std::puts("gdb is not installed: skipped");
        std::exit(77);
    }
    const char* debug_root = std::getenv("PROBED_TEST_DEBUGINFO");
    REQUIRE(debug_root != nullptr);
    setenv("PROBED_DEBUGINFO_PATH", debug_root, 1);
    for (std::string variant : {"stack_target_fp", "stack_target_nofp", "stack_target_nocfi",
                                "stack_target_stripped"}) {
        CAPTURE(variant);
        std::vector<std::string> argv = {target_path(variant), std::to_string(kStackDepth)};

        // gdb's view of an untraced instance waiting at the bottom.
        const std::string reference = gdb_reference_for(variant);
        CAPTURE(reference);
        std::string plain_out = temp_path("gdb-" + variant);
        pid_t plain = start_untraced({target_path(reference), std::to_string(kStackDepth)},
                                     plain_out);
        KillAtScopeExit plain_guard(plain);
        REQUIRE(wait_for_bottom(plain_out));
        // As for ours: "bottom" may be written before the thread is back in nap.
        std::vector<std::string> gdb_names;
        for (int attempt = 0; attempt < 20 && (gdb_names.empty() || gdb_names[0] != "nap"); ++attempt)
            gdb_names = gdb_backtrace(plain, debug_root);
        kill(plain, SIGUSR1);
        int plain_status = 0;
        waitpid(plain, &plain_status, 0);
        plain_guard.disarm();
        CHECK(read_file(plain_out) == kStackTargetOutput);
        unlink(plain_out.c_str());

        // Ours, through 101 hijacked return addresses.
        TraceSession s;
        std::string out = temp_path(variant);
        auto pid = s.engine.spawn(argv, output_to(out));
        REQUIRE_MESSAGE(pid.ok(), pid.error().message);
        KillAtScopeExit guard(*pid);
        auto probe = s.engine.add_probe(probe_spec(*pid, "deep::dive", ProbeKind::Return));
        REQUIRE_MESSAGE(probe.ok(), probe.error().message);
        REQUIRE(s.engine.resume(*pid).ok());
        REQUIRE(s.pump_until([&] { return read_file(out).find("bottom") != std::string::npos; },
                             std::chrono::seconds(30)));
        auto trace = stack_when_waiting(s, *pid);
        REQUIRE_MESSAGE(trace.ok(), trace.error().message);
        const auto& frames = trace->frames;

        std::vector<std::string> ours = functions_to_main(frames);
        std::string both;
        for (size_t i = 0; i < std::max(ours.size(), gdb_names.size()); ++i)
            both += "\n#" + std::to_string(i) + " " + (i < ours.size() ? ours[i] : "-") + " | " +
                    (i < gdb_names.size() ? gdb_names[i] : "-");
        INFO("ours | gdb:" << both);
        CHECK(ours == gdb_names);

        // Exactly the frames a hijacked return address leads to are marked:
        // each frame whose callee is a probed deep::dive.
        size_t marked = 0;
        for (size_t i = 0; i < frames.size(); ++i) {
            bool hijacked = i > 0 && bare_function(frames[i - 1].function) == "deep::dive";
            CAPTURE(i);
            CHECK(frames[i].via_trampoline == hijacked);
            marked += frames[i].via_trampoline;
        }
        CHECK(marked == kStackDepth + 1);
        // Source lines come from the debuginfo (separate, by build-id, for
        // the stripped variant).
        for (const auto& f : frames) {
            if (bare_function(f.function) != "deep::dive") continue;
            CHECK(f.file.find("stack_target.cpp") != std::string::npos);
            CHECK(f.line > 0);
            CHECK(f.module == target_path(variant));
        }

        // Taking the stack changed nothing: the program finishes as usual and
        // every pending return is reported.
        kill(*pid, SIGUSR1);
        int st = s.run_until_exit(*pid);
        guard.disarm();
        REQUIRE(WIFEXITED(st));
        CHECK(WEXITSTATUS(st) == 0);
        CHECK(read_file(out) == kStackTargetOutput);
        auto rets = s.returns_of(probe->id);
        REQUIRE(rets.size() == kStackDepth + 1);
        for (const auto& r : rets) {
            CHECK(r.exit == ExitKind::Return);
            CHECK(*r.retval == r.args[0] * (r.args[0] + 1) / 2);
        }
        unlink(out.c_str());
    }
    unsetenv("PROBED_DEBUGINFO_PATH");
}
