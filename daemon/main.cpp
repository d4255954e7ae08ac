// probed: the daemon. Parses options, sets up signals and logging, and runs
// the RPC server with the tracer thread behind it until SIGTERM/SIGINT, when
// every traced process is restored and let go.
#include "common/monotonic_clock.h"
#include "daemon/daemon_config.h"
#include "daemon/rpc_server.h"
#include "daemon/service_features.h"
#include "daemon/service_manager.h"
#include "daemon/tracer_thread.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>

namespace {

constexpr const char* kUsage = R"(usage: probed [options]

Dynamic instrumentation daemon: attaches to processes with ptrace and serves
JSON-RPC 2.0 (one object per line) on a Unix socket. See docs/protocol.md.

options:
  --socket PATH       socket to listen on (default: $PROBED_SOCKET, else
                      /run/probed/probed.sock as root, $XDG_RUNTIME_DIR/probed.sock otherwise)
  --log-level LEVEL   trace, debug, info, warn, error, off (default: info)
  --foreground        stay in the foreground (default: detach once listening)
  --queue N           events buffered between the tracer and clients (default 65536)
  --tracer-cpu N      pin the tracer thread (and programs it spawns) to CPU N
  --config PATH       daemon settings (default as root: /etc/probed/probed.conf if
                      present); command-line options win. See docs/config.md
  --probes-dir DIR    configured probes, *.json (default as root: /etc/probed/probes.d)
  --state-dir DIR     collected calls and aggregates (default: /var/lib/probed as
                      root, else $XDG_STATE_HOME/probed or ~/.local/state/probed)
  --max-probes-per-client N
                      probes one unprivileged user may hold (default 256)
  --max-subscriptions-per-client N
                      event subscriptions one unprivileged user may hold (default 16)
  --help, --version

Clients are identified by SO_PEERCRED: root or CAP_SYS_PTRACE may act on any
process; other users only on processes they could ptrace themselves.
Started by systemd, probed stays in the foreground, serves on the socket it
is passed (socket activation) and reports readiness with sd_notify.
)";

std::string default_socket() {
    if (const char* env = std::getenv("PROBED_SOCKET"); env && *env) return env;
    if (geteuid() == 0) return "/run/probed/probed.sock";
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg)
        return std::string(xdg) + "/probed.sock";
    return {};
}

struct Options {
    std::string socket;
    std::string log_level = "info";
    bool foreground = false;
    size_t queue = 65536;
    int tracer_cpu = -1;
    std::string config;
    bool config_given = false;
    std::optional<std::string> probes_dir;
    std::optional<std::string> state_dir;
    std::set<std::string> given; // options set on the command line
    probed::AccessLimits limits;
};

// A positive count, or 0 when the text is not one.
size_t parse_count(const char* v) {
    if (!v) return 0;
    char* end = nullptr;
    unsigned long long n = std::strtoull(v, &end, 10);
    return *v && !*end && v[0] != '-' ? static_cast<size_t>(n) : 0;
}

std::string default_state_dir() {
    if (geteuid() == 0) return "/var/lib/probed";
    if (const char* s = std::getenv("XDG_STATE_HOME"); s && *s) return std::string(s) + "/probed";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/probed";
    return {};
}

// probed.conf fills in what the command line left unset.
bool apply_config(Options& opt, probed::ServiceOptions& svc) {
    if (opt.config.empty()) return true;
    auto loaded = probed::load_daemon_config(opt.config);
    if (!loaded) {
        std::fprintf(stderr, "probed: %s\n", loaded.error().message.c_str());
        return false;
    }
    const probed::DaemonConfig& c = *loaded;
    auto unset = [&](const char* flag) { return !opt.given.count(flag); };
    if (c.socket && unset("--socket")) opt.socket = *c.socket;
    if (c.log_level && unset("--log-level")) opt.log_level = *c.log_level;
    if (c.queue && unset("--queue")) opt.queue = *c.queue;
    if (c.state_dir && unset("--state-dir")) opt.state_dir = *c.state_dir;
    if (c.probes_dir && unset("--probes-dir")) opt.probes_dir = *c.probes_dir;
    if (c.collect_queue) svc.collect.queue = *c.collect_queue;
    if (c.rotate_size) svc.collect.rotation.max_file_bytes = *c.rotate_size;
    if (c.retain_files) svc.collect.rotation.max_files = *c.retain_files;
    if (c.retain_size) svc.collect.rotation.max_total_bytes = *c.retain_size;
    if (c.scan_interval_ms) svc.scan_interval_ms = static_cast<unsigned>(std::min<uint64_t>(*c.scan_interval_ms, 3600000));
    return true;
}

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "probed: %s\n\n%s", msg.c_str(), kUsage);
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    Options opt;
    opt.socket = default_socket();
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        opt.given.insert(a);
        auto value = [&](const char* name) -> const char* {
            if (i + 1 >= argc) return nullptr;
            (void)name;
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "--version") {
            std::puts("probed 0.1.0");
            return 0;
        } else if (a == "--foreground") {
            opt.foreground = true;
        } else if (a == "--socket") {
            const char* v = value("--socket");
            if (!v) return usage_error("--socket needs a path");
            opt.socket = v;
        } else if (a == "--log-level") {
            const char* v = value("--log-level");
            if (!v) return usage_error("--log-level needs a level");
            opt.log_level = v;
        } else if (a == "--queue") {
            opt.queue = parse_count(value("--queue"));
            if (opt.queue == 0) return usage_error("--queue needs a positive number");
        } else if (a == "--max-probes-per-client") {
            opt.limits.max_probes = parse_count(value(""));
            if (opt.limits.max_probes == 0) return usage_error(a + " needs a positive number");
        } else if (a == "--max-subscriptions-per-client") {
            opt.limits.max_subscriptions = parse_count(value(""));
            if (opt.limits.max_subscriptions == 0) return usage_error(a + " needs a positive number");
        } else if (a == "--tracer-cpu") {
            const char* v = value("--tracer-cpu");
            char* end = nullptr;
            long n = v ? std::strtol(v, &end, 10) : -1;
            if (!v || *end || n < 0) return usage_error("--tracer-cpu needs a CPU number");
            opt.tracer_cpu = static_cast<int>(n);
        } else if (a == "--config" || a == "--probes-dir" || a == "--state-dir") {
            const char* v = value(a.c_str());
            if (!v || !*v) return usage_error(a + " needs a path");
            if (a == "--config") opt.config = v, opt.config_given = true;
            else if (a == "--probes-dir") opt.probes_dir = v;
            else opt.state_dir = v;
        } else {
            return usage_error("unknown option " + a);
        }
    }
    // A service manager tracks our pid: forking away would look like an exit.
    if (probed::service::managed()) opt.foreground = true;
    auto passed = probed::service::passed_socket();
    if (!passed) {
        std::fprintf(stderr, "probed: %s\n", passed.error().message.c_str());
        return 2;
    }
    int passed_fd = *passed;
    // Root reads the system config when it is there; anyone else only what
    // they name, so a private daemon never picks up the system's probes.
    if (!opt.config_given && geteuid() == 0 && access("/etc/probed/probed.conf", F_OK) == 0)
        opt.config = "/etc/probed/probed.conf";
    probed::ServiceOptions svc;
    if (!apply_config(opt, svc)) return 1;
    if (!opt.probes_dir && geteuid() == 0) opt.probes_dir = "/etc/probed/probes.d";
    svc.probes_dir = opt.probes_dir.value_or("");
    svc.collect.state_dir = opt.state_dir.value_or(default_state_dir());
    if (opt.socket.empty() && passed_fd < 0)
        return usage_error("no socket path: pass --socket or set XDG_RUNTIME_DIR");
    auto level = spdlog::level::from_str(opt.log_level);
    if (level == spdlog::level::off && opt.log_level != "off")
        return usage_error("unknown log level " + opt.log_level);
    auto logger = spdlog::stderr_color_mt("probed");
    spdlog::set_default_logger(logger);
    spdlog::set_level(level);

    // Every thread inherits this mask: SIGCHLD must stay blocked everywhere
    // (the engine reads tracee stops through waitpid/signalfd), and
    // termination signals are read from a signalfd by the RPC loop.
    sigset_t blocked;
    sigemptyset(&blocked);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&blocked, s);
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t stop_set;
    sigemptyset(&stop_set);
    for (int s : {SIGTERM, SIGINT, SIGQUIT}) sigaddset(&stop_set, s);
    int stop_fd = signalfd(-1, &stop_set, SFD_CLOEXEC);

    // Without --foreground, return to the shell once the socket is ready.
    int ready_pipe[2] = {-1, -1};
    if (!opt.foreground) {
        if (pipe(ready_pipe) != 0) return 2;
        pid_t child = fork();
        if (child < 0) return 2;
        if (child > 0) {
            close(ready_pipe[1]);
            char ok = 0;
            ssize_t n = read(ready_pipe[0], &ok, 1);
            return n == 1 && ok == 1 ? 0 : 2;
        }
        close(ready_pipe[0]);
        setsid();
    }

    probed::EventQueue events(opt.queue);
    probed::DaemonInfo info;
    info.started_ns = probed::monotonic_ns();
    info.limits = opt.limits;
    int status = 0;
    {
        probed::TracerThread tracer(events, opt.tracer_cpu);
        if (opt.tracer_cpu >= 0) {
            // Keep this (RPC) thread off the tracer's CPU: the scheduler likes
            // to wake it where the tracer just signalled it, right between
            // the tracer and its tracee.
            cpu_set_t set;
            if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 1) {
                CPU_CLR(opt.tracer_cpu, &set);
                sched_setaffinity(0, sizeof set, &set);
            }
        }
        probed::RpcServer server(tracer, events, info);
        probed::ServiceFeatures service(tracer, events, svc);
        auto listening = passed_fd >= 0 ? server.adopt(passed_fd) : server.listen(opt.socket);
        if (auto& r = listening; !r) {
            spdlog::error("{}", r.error().message);
            status = 2;
        } else {
            service.install(server);
            if (ready_pipe[1] >= 0) {
                char ok = 1;
                (void)!write(ready_pipe[1], &ok, 1);
                close(ready_pipe[1]);
            }
            probed::service::notify_ready("serving on " + info.socket_path);
            server.on_status(probed::service::notify_status);
            server.run(stop_fd);
            probed::service::notify_stopping();
        }
        // Restores and lets go of every traced process.
        tracer.stop();
    }
    spdlog::info("stopped");
    return status;
}
