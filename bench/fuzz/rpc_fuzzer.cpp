// libFuzzer target for the daemon's request path: the bytes of one input
// are what clients send over their sockets. They go through the same
// LineBuffer, the same request parser (rpc::answer_line) and the same
// RpcMethods as in probed, against a real Engine on its TracerThread that
// traces a real target program with probes firing. Every answer must be one
// JSON-RPC response; the target must stay alive and print the right lines.
//
// A line starting with a TAB comes from a second, unprivileged client (uid
// 65534), so the access checks run too; every other line from root.
//
// What a request could do to the machine is fenced in before dispatch (see
// confine()): a pid names this process (refused by the handler), a number
// above the kernel's pid_max (no process can have it), or else one of the
// processes of this input: pid k is the (k mod n)-th of [the target, each
// program spawned by this input]. process.spawn runs only the target
// program, without LD_ variables, its standard streams in a scratch
// directory.
#include "common/jsonrpc_request.h"
#include "common/line_buffer.h"
#include "common/monotonic_clock.h"
#include "daemon/collector.h"
#include "daemon/event_json.h"
#include "daemon/rpc_methods.h"
#include "daemon/tracer_thread.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#ifndef FUZZ_TARGET_PROGRAM
#error "FUZZ_TARGET_PROGRAM (the probe_target to trace) must be defined by the build"
#endif

namespace {

using namespace probed;
using rpc::json;

constexpr int64_t kBeyondPidMax = (int64_t{1} << 22) + 1; // PID_MAX_LIMIT + 1
constexpr size_t kFuzzMaxLine = 1024; // small, so over-long lines happen too

void die(const std::string& why) {
    std::fprintf(stderr, "rpc_fuzzer: %s\n", why.c_str());
    std::abort();
}

// The daemon's pieces, built once: an input reuses them as a new
// connection reuses a running daemon.
struct World {
    std::string scratch;
    std::string target_out;
    EventQueue events{4096};
    DaemonInfo info;
    std::unique_ptr<TracerThread> tracer;
    std::unique_ptr<Collector> collector;
    std::unique_ptr<RpcMethods> methods;
    pid_t target = 0;
    size_t out_checked = 0; // bytes of target_out already verified
    uint64_t next_client = 1;

    World() {
        char tmpl[] = "/tmp/probed-fuzz-XXXXXX";
        if (!mkdtemp(tmpl)) die("mkdtemp failed");
        scratch = tmpl;
        for (const char* f : {"/stdin", "/stdout", "/stderr"}) std::ofstream(scratch + f).flush();
        target_out = scratch + "/target.out";
        info.started_ns = monotonic_ns();
        info.socket_path = scratch + "/probed.sock";
        tracer = std::make_unique<TracerThread>(events);
        CollectorOptions copts;
        copts.state_dir = scratch + "/state";
        collector = std::make_unique<Collector>(events, copts);
        if (auto r = collector->start(); !r) die("collector: " + r.error().message);
        methods = std::make_unique<RpcMethods>(*tracer, events, info);
        methods->set_collector(collector.get());
        start_target();
    }

    // "slow": one call of work(i, 2) and one line "i 3i+2" every 2 ms, for
    // as long as we fuzz; light on the CPU, yet probes on it keep firing.
    void start_target() {
        SpawnOptions opts;
        opts.stdout_path = target_out;
        opts.stdin_path = "/dev/null";
        std::vector<std::string> argv = {FUZZ_TARGET_PROGRAM, "slow", "1000000000"};
        auto pid = tracer->call([&](Engine& e) -> Result<pid_t> {
            auto p = e.spawn(argv, opts);
            if (p) PROBED_TRY(e.resume(*p));
            return p;
        });
        if (!pid) die("cannot start the target: " + pid.error().message);
        target = *pid;
    }

    // The target may be detached by a request: it is traced again for the
    // next input. Gone is a finding (nothing we send may kill it).
    void check_target() {
        bool traced = tracer->call([&](Engine& e) { return e.tracing(target); });
        std::ifstream proc_stat("/proc/" + std::to_string(target) + "/stat");
        std::string pid_s, comm, state;
        proc_stat >> pid_s >> comm >> state;
        if (state.empty() || state == "Z" || state == "X") {
            auto st = tracer->call([&](Engine& e) { return e.exit_status(target); });
            std::string how = !st ? "unknown"
                              : WIFSIGNALED(*st) ? "killed by signal " + std::to_string(WTERMSIG(*st))
                                                 : "exit " + std::to_string(WEXITSTATUS(*st));
            die("target " + std::to_string(target) + " is gone (" + how + ")");
        }
        if (!traced) {
            auto r = tracer->call([&](Engine& e) { return e.attach(target); });
            if (!r) die("cannot re-attach the target: " + r.error().message);
        }
        check_target_output();
    }

    void check_target_output() {
        std::ifstream in(target_out);
        in.seekg(static_cast<std::streamoff>(out_checked));
        std::string line;
        while (std::getline(in, line) && !in.eof()) { // complete lines only
            out_checked += line.size() + 1;
            if (line.rfind("ready ", 0) == 0) continue;
            long i = 0, w = 0;
            if (std::sscanf(line.c_str(), "%ld %ld", &i, &w) != 2 || w != 3 * i + 2)
                die("target printed a wrong line: '" + line + "'");
        }
    }

    std::vector<pid_t> spawned; // by the current input

    pid_t fenced_pid(int64_t pid) const {
        if (pid == getpid() || pid >= kBeyondPidMax) return static_cast<pid_t>(pid);
        size_t k = static_cast<size_t>(pid) % (1 + spawned.size());
        return k == 0 ? target : spawned[k - 1];
    }

    // Rewrites what would reach outside the fence; malformed values stay as
    // they are, so the handlers' own checks still see them.
    void confine(const std::string& method, json& params) const {
        auto pid = params.find("pid");
        if (pid != params.end() && pid->is_number_integer() && pid->get<int64_t>() > 0)
            *pid = fenced_pid(pid->get<int64_t>());
        if (method != "process.spawn") return;
        auto argv = params.find("argv");
        if (argv != params.end() && argv->is_array() && !argv->empty())
            *argv = json::array({FUZZ_TARGET_PROGRAM, "loop", "100"});
        auto env = params.find("env");
        if (env != params.end() && env->is_array()) {
            json kept = json::array();
            for (const auto& e : *env)
                if (!e.is_string() || e.get<std::string>().rfind("LD_", 0) != 0) kept.push_back(e);
            *env = kept;
        }
        for (const char* stream : {"stdin", "stdout", "stderr"}) {
            auto p = params.find(stream);
            if (p != params.end() && p->is_string() && !p->get<std::string>().empty())
                *p = scratch + "/" + stream;
        }
    }

    // Probes left behind by the input ("owner": "daemon" outlives its
    // client) are removed, so inputs do not pile breakpoints up.
    void remove_leftover_probes(ClientSession& root) {
        json list = methods->handle(root, 0, "probe.list", json::object());
        for (const auto& p : list["result"]["probes"])
            methods->handle(root, 0, "probe.remove", {{"probe_id", p["probe_id"]}});
    }

    // Events are encoded as for a subscriber and shown to the collector.
    void drain_events() {
        std::vector<CallEvent> batch;
        while (events.drain(batch, 4096) > 0) {
            for (const CallEvent& ev : batch) {
                collector->offer(ev);
                if (event_notification_line(ev).back() != '\n') die("event line without newline");
                if (ev.type == EventType::Exit) methods->process_ended(ev.pid);
            }
            batch.clear();
        }
    }
};

World* world = nullptr;

std::unique_ptr<ClientSession> make_client(bool privileged) {
    // The fd is never read or written: the session is driven directly.
    auto c = std::make_unique<ClientSession>(-1);
    c->id = world->next_client++;
    c->peer.pid = getpid();
    uid_t uid = privileged ? 0 : 65534;
    c->peer.uids = {uid, uid, uid};
    c->peer.gids = {uid, uid, uid};
    if (privileged) c->peer.cap_effective = ~uint64_t{0};
    return c;
}

void answer(ClientSession& c, const LineBuffer::Line& line) {
    auto reply = rpc::answer_line(line, [&](const json& id, const std::string& method,
                                            const json& params) {
        json confined = params;
        world->confine(method, confined);
        json response = world->methods->handle(c, id, method, confined);
        if (method == "process.spawn" && response.contains("result"))
            world->spawned.push_back(response["result"]["pid"].get<pid_t>());
        return response;
    });
    if (!reply) return;
    const json& r = *reply;
    if (!r.is_object() || r.value("jsonrpc", "") != "2.0" || !r.contains("id") ||
        r.contains("result") == r.contains("error"))
        die("not a JSON-RPC response: " + r.dump());
    if (rpc::to_line(r).back() != '\n') die("response line without newline");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // As in probed's main(): the engine reads tracee stops through a
    // signalfd, so SIGCHLD stays blocked in every thread.
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    spdlog::set_level(std::getenv("FUZZ_LOG") ? spdlog::level::debug : spdlog::level::off);
    world = new World();
    // Torn down before static destructors run (spdlog's among them): the
    // tracer thread must not outlive what it uses, and the target is
    // detached and left running as probed leaves it.
    std::atexit([] {
        delete world;
        world = nullptr;
    });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto root = make_client(true);
    auto nobody = make_client(false);
    LineBuffer root_in(kFuzzMaxLine), nobody_in(kFuzzMaxLine);
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    // Split where the daemon's reads could: every line on its own, and a
    // last line without '\n' stays unanswered as on a live connection.
    while (!bytes.empty()) {
        size_t nl = bytes.find('\n');
        std::string_view chunk = bytes.substr(0, nl == std::string_view::npos ? bytes.size() : nl + 1);
        bytes.remove_prefix(chunk.size());
        bool second = chunk.front() == '\t';
        LineBuffer& in = second ? nobody_in : root_in;
        ClientSession& c = second ? *nobody : *root;
        in.append(chunk);
        while (auto line = in.next()) answer(c, *line);
    }
    world->spawned.clear();
    world->methods->client_gone(*root);
    world->methods->client_gone(*nobody);
    auto cleaner = make_client(true);
    world->remove_leftover_probes(*cleaner);
    world->methods->client_gone(*cleaner);
    world->drain_events();
    world->check_target();
    return 0;
}
