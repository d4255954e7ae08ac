// probes.d applied to real processes (configured_probes.h) without the
// proc connector: the tests call on_exec() themselves, as the connector's
// watch does, at the moments that matter. A process must end up with one
// probe per configured entry however many times it is discovered, or every
// call is recorded once per copy.
#include "daemon/collector.h"
#include "daemon/configured_probes.h"
#include "daemon/rpc_methods.h"
#include "daemon/tracer_thread.h"
#include "tests/integration/trace_session.h"
#include "tests/unit/temp_dir.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <vector>

using namespace probed;
using namespace probed::testing;

namespace {

// What the target's status_of(i) returns (tests/targets/probe_target.c).
int64_t status_of(uint64_t i) { return static_cast<int64_t>(i % 7) * 3 - 9; }

// The daemon's service half around one tracer.
struct Service {
    Service() { REQUIRE(collector.start().ok()); }
    ~Service() {
        collector.stop();
        tracer.stop();
    }

    // probes.d: status_of in `pid`, then applied to every process.
    void configure_and_reload(pid_t pid) {
        std::ofstream(dir / "status.json")
            << R"({"select": {"pid": )" << pid
            << R"(}, "probes": [{"name": "rc", "target": "status_of", "capture": {"args": 1}}]})";
        configured.reload();
    }
    // The engine's probes on `pid`.
    std::vector<uint64_t> probes_on(pid_t pid) {
        return tracer.call([pid](Engine& e) {
            std::vector<uint64_t> ids;
            for (const auto& p : e.list_probes())
                if (p.pid == pid) ids.push_back(p.id);
            return ids;
        });
    }
    // Reads the tracer's events until pred(events so far) holds.
    bool wait_events(const std::function<bool(const std::vector<CallEvent>&)>& pred) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!pred(events)) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            if (auto ev = queue.pop_for(std::chrono::milliseconds(50))) events.push_back(std::move(*ev));
        }
        return true;
    }

    test::TempDir dir;
    test::TempDir state;
    EventQueue queue{1u << 20};
    TracerThread tracer{queue};
    DaemonInfo info;
    RpcMethods methods{tracer, queue, info};
    Collector collector{queue, CollectorOptions{state.path(), {}, 4096, 1000}};
    ConfiguredProbes configured{tracer, methods, collector, dir.path()};
    std::vector<CallEvent> events;
};

std::vector<CallEvent> returns_of(const std::vector<CallEvent>& events, uint64_t probe_id) {
    std::vector<CallEvent> out;
    for (const auto& e : events)
        if (e.type == EventType::Return && e.probe_id == probe_id) out.push_back(e);
    return out;
}

void end_process(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
}

} // namespace

TEST_CASE("a late exec notice for a process the scan already probed adds no second probe") {
    // Found by the scan after its exec, before the exec notice was read: on
    // a slow machine the daemon's first scan runs while the notice of a
    // program started right after it waits in the connector's socket.
    std::string out = temp_path("configured-late-exec");
    pid_t pid = start_announcing({target_path("probe_target_pie_O2"), "status", "100000"}, out);
    {
        Service s;
        s.configure_and_reload(pid);
        auto found = s.probes_on(pid);
        REQUIRE(found.size() == 1);
        REQUIRE(s.configured.applied_count() == 1);

        s.configured.on_exec(pid); // the notice of the exec that started it
        auto now = s.probes_on(pid);
        CHECK(now.size() == 1);
        CHECK(now == found);
        CHECK(s.configured.applied_count() == 1);

        // Every call is reported once, by the one probe, in order.
        REQUIRE(s.wait_events([&](const auto& ev) { return returns_of(ev, found[0]).size() >= 30; }));
        uint64_t returns = 0;
        for (const auto& e : s.events) returns += e.type == EventType::Return;
        auto mine = returns_of(s.events, found[0]);
        CHECK(returns == mine.size());
        for (size_t i = 1; i < mine.size(); ++i) {
            CAPTURE(i);
            CHECK(mine[i].args[0] == mine[i - 1].args[0] + 1);
            CHECK(static_cast<int64_t>(*mine[i].retval) == status_of(mine[i].args[0]));
        }
    }
    end_process(pid);
    unlink(out.c_str());
}

TEST_CASE("an exec the engine saw replaces the configured probe in the new image") {
    // Traced from its start; after ten calls of work() it runs "status".
    std::string out = temp_path("configured-exec");
    Service s;
    auto pid = s.tracer.call([&](Engine& e) {
        return e.spawn({target_path("probe_target_pie_O2"), "exec", "10", "status", "100000"},
                       output_to(out));
    });
    REQUIRE_MESSAGE(pid.ok(), pid.error().message);
    s.configure_and_reload(*pid);
    auto before = s.probes_on(*pid);
    REQUIRE(before.size() == 1);
    REQUIRE(s.tracer.call([&](Engine& e) { return e.resume(*pid); }).ok());

    // The engine drops the old image's probe at the exec stop, before the
    // kernel sends the exec notice.
    REQUIRE(s.wait_events([&](const auto& ev) {
        for (const auto& e : ev)
            if (e.type == EventType::ProbeLost && e.probe_id == before[0]) return true;
        return false;
    }));
    s.configured.on_exec(*pid);
    auto after = s.probes_on(*pid);
    REQUIRE(after.size() == 1);
    CHECK(after[0] != before[0]);
    CHECK(s.configured.applied_count() == 1);
    REQUIRE(s.wait_events([&](const auto& ev) { return returns_of(ev, after[0]).size() >= 5; }));
    for (const auto& r : returns_of(s.events, after[0]))
        CHECK(static_cast<int64_t>(*r.retval) == status_of(r.args[0]));
    s.tracer.stop();
    end_process(*pid);
    unlink(out.c_str());
}
