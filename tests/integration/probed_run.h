#pragma once
// The most common integration check: a spawned target with Call probes runs
// to its end and behaves exactly as it does untraced.
#include "tests/integration/trace_session.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace probed::testing {

// Spawns `argv` with a Call probe on each of `functions`, runs it to its end
// and checks that it exits 0 with the output of an untraced run. Returns the
// probes' ids in the order of `functions`.
inline std::vector<uint64_t> run_like_untraced(TraceSession& s, const std::vector<std::string>& argv,
                                               const std::vector<std::string>& functions) {
    const std::string expected = run_untraced(argv);
    std::string out = temp_path("like-untraced");
    auto pid = s.engine.spawn(argv, output_to(out));
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    std::vector<uint64_t> ids;
    for (const std::string& fn : functions) {
        auto probe = s.engine.add_probe(probe_spec(*pid, fn, ProbeKind::Call));
        REQUIRE_MESSAGE(probe.ok(), fn, ": ", probe.error().message);
        ids.push_back(probe->id);
    }
    REQUIRE(s.engine.resume(*pid).ok());
    int st = s.run_until_exit(*pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(read_file(out) == expected);
    unlink(out.c_str());
    return ids;
}

} // namespace probed::testing
