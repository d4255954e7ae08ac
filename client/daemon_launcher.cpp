#include "client/daemon_launcher.h"

#include "client/signal_watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace probed::client {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStartTimeout = std::chrono::seconds(5);
constexpr auto kStopTimeout = std::chrono::seconds(5);

std::string self_exe_path() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return {};
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string describe_status(int status) {
    if (WIFEXITED(status))
        return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void exec_probed(const std::vector<std::string>& candidates, const char* socket_path,
                              int error_pipe, pid_t parent) {
    SignalWatcher::reset_in_child();
    // If probectl is killed outright (SIGKILL), its clean-up never runs: the
    // kernel then sends SIGTERM, so the daemon still restores its tracees
    // and exits instead of living on unseen.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127); // the parent died before prctl

    // Its own process group: Ctrl-C on the terminal must reach only us, so
    // the daemon is still there to serve our clean-up requests.
    setpgid(0, 0);
    // Its stdout would mix into ours (and break --json); its stderr is ours.
    dup2(STDERR_FILENO, STDOUT_FILENO);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);

    const char* argv[] = {"probed",      "--socket", socket_path, "--foreground",
                          "--log-level", "warn",     nullptr};
    auto args = const_cast<char* const*>(argv);
    for (const std::string& path : candidates)
        if (access(path.c_str(), X_OK) == 0)
            execv(path.c_str(), args);
    execvp("probed", args);
    int err = errno;
    ssize_t ignored = write(error_pipe, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

} // namespace

std::vector<std::string> probed_candidates(const std::string& self_exe) {
    if (self_exe.empty())
        return {};
    std::filesystem::path dir = std::filesystem::path(self_exe).parent_path();
    return {(dir.parent_path() / "daemon" / "probed").string(), (dir / "probed").string(),
            (dir.parent_path() / "sbin" / "probed").string()};
}

Result<PrivateDaemon::Started> PrivateDaemon::start(SignalWatcher* watcher) {
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    std::string base =
        runtime && *runtime && std::filesystem::is_directory(runtime) ? runtime : "/tmp";
    std::string templ = base + "/probectl-XXXXXX";
    if (!::mkdtemp(templ.data()))
        return Error::from_errno("cannot create a directory in " + base);

    // From here on the destructor removes the directory and stops the child.
    std::unique_ptr<PrivateDaemon> daemon(new PrivateDaemon(templ, templ + "/probed.sock"));
    PROBED_TRY(daemon->spawn());
    auto connection = daemon->wait_until_ready(watcher);
    if (!connection)
        return std::move(connection).error();
    return Started{std::move(daemon), std::move(*connection)};
}

Result<void> PrivateDaemon::spawn() {
    auto candidates = probed_candidates(self_exe_path());
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
        return Error::from_errno("pipe");
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        return Error::from_errno("fork", err);
    }
    if (pid == 0)
        exec_probed(candidates, socket_path_.c_str(), pipe_fds[1], parent);

    pid_ = pid;
    ::close(pipe_fds[1]);
    // The pipe closes on a successful exec (O_CLOEXEC) or carries its errno.
    int exec_errno = 0;
    ssize_t n;
    do {
        n = ::read(pipe_fds[0], &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    ::close(pipe_fds[0]);
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        return Error::from_errno("cannot run probed (looked next to probectl and on PATH)",
                                 exec_errno);
    }
    return {};
}

Result<RpcConnection> PrivateDaemon::wait_until_ready(SignalWatcher* watcher) {
    auto deadline = Clock::now() + kStartTimeout;
    for (;;) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return make_error(ErrorKind::Io, "the private probed exited during start-up (" +
                                                 describe_status(status) + ")");
        }
        auto connection = RpcConnection::connect(socket_path_);
        if (connection)
            return connection;
        int err = connection.error().sys_errno;
        if (err != ENOENT && err != ECONNREFUSED)
            return std::move(connection).error();
        if (Clock::now() >= deadline)
            return make_error(ErrorKind::Io,
                              "the private probed did not open " + socket_path_ + " within 5 s");
        // Sleep 10 ms, or less if Ctrl-C arrives: starting must stay abortable.
        pollfd pfd{watcher ? watcher->fd() : -1, POLLIN, 0};
        if (::poll(&pfd, 1, 10) > 0) {
            watcher->drain();
            return make_error(ErrorKind::Io, "interrupted while starting probed");
        }
    }
}

void PrivateDaemon::stop() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + kStopTimeout;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (Clock::now() >= deadline) {
            // It had its chance to restore the tracees; don't hang the shell.
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
}

PrivateDaemon::~PrivateDaemon() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

} // namespace probed::client
