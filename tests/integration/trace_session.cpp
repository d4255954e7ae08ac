#include "tests/integration/trace_session.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <stdexcept>

namespace probed::testing {

std::string target_path(const std::string& name) {
    const char* dir = std::getenv("PROBED_TARGETS_DIR");
    return std::string(dir ? dir : "tests/targets") + "/" + name;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string temp_path(const std::string& tag) {
    return "/tmp/probed-test-" + std::to_string(getpid()) + "-" + tag;
}

std::set<std::string> anonymous_code_mappings(pid_t pid) {
    std::set<std::string> out;
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/maps"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string range, perms, offset, dev, inode, path;
        f >> range >> perms >> offset >> dev >> inode >> path;
        const bool readable_or_code = perms[0] == 'r' || perms[2] == 'x';
        if (readable_or_code && perms[1] != 'w' && inode == "0" && path.empty())
            out.insert(range);
    }
    return out;
}

SpawnOptions output_to(const std::string& path) {
    SpawnOptions o;
    o.stdout_path = path;
    return o;
}

pid_t start_untraced(const std::vector<std::string>& argv, const std::string& out_path) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        std::vector<char*> a;
        for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
        a.push_back(nullptr);
        execv(a[0], a.data());
        _exit(127);
    }
    return pid;
}

pid_t start_announcing(const std::vector<std::string>& argv, const std::string& out_path) {
    pid_t pid = start_untraced(argv, out_path);
    // Until it has exec'd and said so: attaching earlier would trace a copy
    // of this test. A loaded CI machine can take seconds to get there.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (read_file(out_path).find("ready") == std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr, "%s did not say \"ready\" in 60 s\n", argv[0].c_str());
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pid;
}

pid_t start_untraced_execed(const std::vector<std::string>& argv, const std::string& out_path) {
    pid_t pid = start_untraced(argv, out_path);
    const std::string exe_link = "/proc/" + std::to_string(pid) + "/exe";
    const std::string name = std::filesystem::path(argv[0]).filename();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        std::error_code ec;
        auto exe = std::filesystem::read_symlink(exe_link, ec);
        if (!ec && exe.filename() == name) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return pid;
}

bool wait_until_leader_left(pid_t pid) {
    for (int i = 0; i < 2000 && thread_state(pid) != 'Z'; ++i) usleep(1000);
    return thread_state(pid) == 'Z';
}

std::string run_untraced(const std::vector<std::string>& argv) {
    std::string out = temp_path("untraced");
    pid_t pid = start_untraced(argv, out);
    int st = 0;
    waitpid(pid, &st, 0);
    std::string text = read_file(out);
    unlink(out.c_str());
    return text;
}

ProbeSpec probe_spec(pid_t pid, const std::string& target, ProbeKind kind) {
    ProbeSpec s;
    s.pid = pid;
    s.target = target;
    s.kind = kind;
    return s;
}

TraceSession::TraceSession() {
    if (const char* level = std::getenv("PROBED_LOG")) spdlog::set_level(spdlog::level::from_str(level));
    else spdlog::set_level(spdlog::level::warn);
}

void TraceSession::collect() { queue.drain(events, ~size_t{0}); }

TraceSession::Finished TraceSession::finish(pid_t pid, const std::vector<std::string>& argv,
                                            const std::string& out_path) {
    Finished f;
    if (!engine.resume(pid)) return f;
    f.status = run_until_exit(pid);
    f.output = read_file(out_path);
    unlink(out_path.c_str());
    f.untraced_output = run_untraced(argv);
    return f;
}

int TraceSession::run_until_exit(pid_t pid, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (auto st = engine.exit_status(pid)) {
            collect();
            return *st;
        }
        engine.pump(100);
        collect();
    }
    return -1;
}

void TraceSession::pump_for(std::chrono::milliseconds duration) {
    auto deadline = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < deadline) {
        engine.pump(10);
        collect();
    }
}

bool TraceSession::pump_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        engine.pump(10);
        collect();
    }
    return true;
}

std::vector<CallEvent> TraceSession::returns_of(uint64_t probe_id) const {
    std::vector<CallEvent> out;
    for (const auto& e : events)
        if (e.probe_id == probe_id && e.type == EventType::Return) out.push_back(e);
    return out;
}

std::vector<CallEvent> TraceSession::entries_of(uint64_t probe_id) const {
    std::vector<CallEvent> out;
    for (const auto& e : events)
        if (e.probe_id == probe_id && e.type == EventType::Entry) out.push_back(e);
    return out;
}

std::vector<CallEvent> TraceSession::events_of_type(EventType type) const {
    std::vector<CallEvent> out;
    for (const auto& e : events)
        if (e.type == type) out.push_back(e);
    return out;
}

} // namespace probed::testing
