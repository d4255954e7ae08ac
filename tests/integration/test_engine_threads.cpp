// Many threads hitting one probe at once: every call reported exactly once.
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <map>
#include <string>

using namespace probed;
using namespace probed::testing;

#if defined(__aarch64__)
// A ptrace stop costs 0.1-0.3 ms in the emulated arm64 machine tests run on.
constexpr uint64_t kCalls = 2000;
#else
constexpr uint64_t kCalls = 20000;
#endif

TEST_CASE("8 threads x many calls: exact count, every return value right") {
    constexpr uint64_t kThreads = 8;
    for (const char* variant : {"probe_target_pie_O0", "probe_target_pie_O2"}) {
        CAPTURE(variant);
        TraceSession s;
        std::string out = temp_path("threads");
        auto pid = s.engine.spawn({target_path(variant), "threads", std::to_string(kCalls),
                                   std::to_string(kThreads)},
                                  output_to(out));
        REQUIRE_MESSAGE(pid.ok(), pid.error().message);
        ProbeSpec spec;
        spec.pid = *pid;
        spec.target = "work";
        auto probe = s.engine.add_probe(spec);
        REQUIRE_MESSAGE(probe.ok(), probe.error().message);
        REQUIRE(s.engine.resume(*pid).ok());
        int st = s.run_until_exit(*pid, std::chrono::seconds(240));
        REQUIRE(WIFEXITED(st));
        CHECK(read_file(out) == "threads 8 x " + std::to_string(kCalls) + " bad 0\n");
        CHECK(s.queue.dropped(probe->id) == 0);

        auto rets = s.returns_of(probe->id);
        CHECK(rets.size() == kThreads * kCalls);
        std::map<pid_t, uint64_t> per_thread;
        std::map<std::pair<uint64_t, uint64_t>, int> seen;
        uint64_t wrong = 0;
        for (const auto& r : rets) {
            per_thread[r.tid]++;
            if (*r.retval != r.args[0] * 3 + r.args[1]) ++wrong;
            seen[{r.args[0], r.args[1]}]++;
        }
        CHECK(wrong == 0);
        CHECK(per_thread.size() == kThreads);
        for (const auto& [tid, n] : per_thread) CHECK(n == kCalls);
        // (thread index, call index) pairs: each exactly once.
        CHECK(seen.size() == kThreads * kCalls);
        unlink(out.c_str());
    }
}
