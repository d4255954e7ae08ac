// Engine lifecycle: spawning, attaching, the wait loop and bookkeeping.
#include "daemon/engine.h"

#include "common/monotonic_clock.h"
#include "arch/host.h"
#include "daemon/proc_task.h"
#include "daemon/symbol_resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <set>

namespace probed {

namespace host = arch::host;

namespace {

constexpr long kTraceOptions =
    PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;

std::set<pid_t> list_tasks(pid_t pid) {
    std::set<pid_t> tids;
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(dir.c_str());
    if (!d) return tids;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        tids.insert(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    closedir(d);
    return tids;
}

Result<WaitStatus> wait_for(pid_t tid) {
    int raw = 0;
    while (waitpid(tid, &raw, __WALL) < 0) {
        if (errno != EINTR) return Error::from_errno("waitpid " + std::to_string(tid));
    }
    return WaitStatus(raw);
}

// In the forked child: take on a client's identity for good (real,
// effective and saved ids). Returns 0 or the errno of the step that failed.
int become(const SpawnIdentity& who) {
    if (setgroups(who.groups.size(), who.groups.data()) != 0) return errno;
    if (setresgid(who.gid, who.gid, who.gid) != 0) return errno;
    if (setresuid(who.uid, who.uid, who.uid) != 0) return errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
    return 0;
}

} // namespace

namespace {
void on_wake_signal(int) {}
} // namespace

Engine::Engine(EventQueue& events) : events_(events) {
    struct sigaction sa {};
    sa.sa_handler = on_wake_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: waitpid must return EINTR
    sigaction(kWakeSignal, &sa, nullptr);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    sigchld_fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!sigchld_fd_.valid()) spdlog::error("signalfd: {}", std::strerror(errno));
}

Engine::~Engine() { detach_all(); }

ProcessState* Engine::find_process(pid_t pid) {
    auto it = procs_.find(pid);
    return it == procs_.end() ? nullptr : it->second.get();
}

ProcessState* Engine::owner_of(pid_t tid) {
    auto it = tid_owner_.find(tid);
    return it == tid_owner_.end() ? nullptr : find_process(it->second);
}

void Engine::add_thread(ProcessState& proc, pid_t tid, bool expect_initial_stop) {
    ThreadState& t = proc.threads[tid];
    t.tid = tid;
    t.expect_interrupt = expect_initial_stop;
    tid_owner_[tid] = proc.pid;
}

void Engine::remove_thread(ProcessState& proc, pid_t tid) {
    if (auto it = proc.threads.find(tid); it != proc.threads.end() && !it->second.shadow.empty()) {
        uint64_t now = monotonic_ns();
        auto frames = it->second.shadow.take_all();
        for (size_t i = frames.size(); i-- > 0;)
            report_return(proc, it->second, frames[i],
                          it->second.forced_unwind ? ExitKind::Exception : ExitKind::ThreadExit,
                          nullptr, now);
    }
    // The unwinder reads the /proc files of the thread it was made for,
    // which show no modules once it is gone.
    if (proc.unwinder && proc.unwinder->pid() == tid) proc.unwinder.reset();
    proc.threads.erase(tid);
    tid_owner_.erase(tid);
    if (tid == proc.pid) proc.leader_exited = true; // the process ends, or lives on without it
    if (proc.slots) proc.slots->thread_exited(tid);
    // Its frames may have been the last to keep the unwinder hooks; a
    // process with no thread left has no memory to take them out of.
    if (proc.unwind_hooks_retiring && !proc.threads.empty()) retire_unwind_hooks(proc);
}

void Engine::notice_leader_left(ProcessState& proc) {
    if (proc.leader_exited || proc.threads.size() < 2 || !thread_exited(proc.pid)) return;
    spdlog::debug("pid {}: the main thread has left; the process lives on", proc.pid);
    remove_thread(proc, proc.pid);
}

Result<void> Engine::init_process(ProcessState& proc) {
    auto mem = ProcMem::open(proc.proc_files_tid());
    if (!mem) return std::move(mem).error();
    proc.mem = std::make_unique<ProcMem>(std::move(*mem));
    auto entry = read_entry_point(proc.proc_files_tid());
    if (!entry) return std::move(entry).error();
    proc.entry_point = *entry;
    proc.breakpoints = std::make_unique<BreakpointTable>(host::breakpoint_bytes());
    proc.slots = std::make_unique<SlotAllocator>(4096, host::kSlotSize);
    proc.unwinder.reset(); // after exec: another image
    return {};
}

Result<pid_t> Engine::spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
    if (argv.empty()) return make_error(ErrorKind::InvalidArgument, "spawn: empty argv");
    int go[2], err[2];
    if (pipe2(go, O_CLOEXEC) != 0) return Error::from_errno("pipe");
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(go[0]);
        close(go[1]);
        return Error::from_errno("pipe");
    }
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (const auto& e : opts.env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);

    pid_t pid = fork();
    if (pid < 0) return Error::from_errno("fork");
    if (pid == 0) {
        // Child: wait until the parent has seized us, so exec is reported.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        close(go[1]);
        close(err[0]);
        char c;
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {}
        int e = 0;
        if (opts.identity) e = become(*opts.identity);
        if (e == 0 && !opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) e = errno;
        auto redirect = [&](const std::string& path, int target, int flags) {
            if (e != 0 || path.empty()) return;
            int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
            if (fd < 0 || dup2(fd, target) < 0) e = errno;
        };
        redirect(opts.stdin_path, 0, O_RDONLY);
        // Appending, never truncating: the path may be a client's own stdout
        // reopened through /proc/PID/fd/1, whose earlier output must survive.
        redirect(opts.stdout_path, 1, O_WRONLY | O_CREAT | O_APPEND);
        redirect(opts.stderr_path, 2, O_WRONLY | O_CREAT | O_APPEND);
        if (e == 0) {
            if (opts.env.empty()) execvp(cargv[0], cargv.data());
            else execvpe(cargv[0], cargv.data(), cenv.data());
            e = errno;
        }
        (void)!write(err[1], &e, sizeof e);
        _exit(127);
    }
    close(go[0]);
    close(err[1]);
    UniqueFd go_w(go[1]), err_r(err[0]);
    if (ptrace(PTRACE_SEIZE, pid, nullptr, kTraceOptions) != 0) {
        auto e = Error::from_errno("PTRACE_SEIZE");
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return e;
    }
    go_w.reset();
    auto st = wait_for(pid);
    if (!st) return std::move(st).error();
    if (st->kind() != WaitStatus::Kind::EventStop || st->event() != PTRACE_EVENT_EXEC) {
        int e = 0;
        bool got = read(err_r.get(), &e, sizeof e) == sizeof e;
        if (!st->exited_or_killed()) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, __WALL);
        }
        return make_error(ErrorKind::NotFound, "cannot execute " + argv[0] + ": " +
                                                   (got ? std::strerror(e) : "exec failed"));
    }

    auto proc = std::make_unique<ProcessState>();
    proc->pid = pid;
    proc->spawned = true;
    ProcessState& p = *proc;
    procs_[pid] = std::move(proc);
    add_thread(p, pid, false);
    p.threads[pid].run = ThreadState::Run::Stopped;
    auto fail = [&](Error e) -> Result<pid_t> {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, __WALL);
        tid_owner_.erase(pid);
        procs_.erase(pid);
        return e;
    };
    if (auto r = init_process(p); !r) return fail(std::move(r).error());

    // Run the dynamic loader up to the entry point: then every DT_NEEDED
    // library is mapped and resolvable, and no program code has run.
    if (auto r = p.breakpoints->insert(*p.mem, p.entry_point); !r) return fail(std::move(r).error());
    if (ptrace(PTRACE_CONT, pid, nullptr, nullptr) != 0) return fail(Error::from_errno("PTRACE_CONT"));
    while (true) {
        auto s = wait_for(pid);
        if (!s) return fail(std::move(s).error());
        if (s->exited_or_killed())
            return fail(make_error(ErrorKind::ProcessGone, argv[0] + " died before main"));
        if (s->kind() == WaitStatus::Kind::SignalStop && s->signal() == SIGTRAP) {
            auto regs = host::get_regs(pid);
            if (regs && host::breakpoint_address_from_pc(host::pc_of(*regs)) == p.entry_point) break;
        }
        int sig = s->kind() == WaitStatus::Kind::SignalStop ? s->signal() : 0;
        ptrace(PTRACE_CONT, pid, nullptr, sig);
    }
    (void)p.breakpoints->remove(*p.mem, p.entry_point);
    if (auto r = host::set_pc(pid, p.entry_point); !r) return fail(std::move(r).error());
    p.held_at_entry = true;

    auto page = map_page_near(p, p.entry_point);
    if (!page) return fail(std::move(page).error());
    // A SIGTRAP ignored by whoever started us stays ignored in the program.
    if (!keep_sigtrap_at_rest(p, p.threads.at(pid)))
        return fail(make_error(ErrorKind::ProcessGone, argv[0] + " died before main"));
    spdlog::info("spawned {} as pid {} (held before main)", argv[0], pid);
    return pid;
}

Result<void> Engine::resume(pid_t pid) {
    ProcessState* p = find_process(pid);
    if (!p) return make_error(ErrorKind::NotFound, "pid " + std::to_string(pid) + " is not traced");
    if (!p->held_at_entry) return {};
    p->held_at_entry = false;
    ThreadState& t = p->threads.at(pid);
    resume_thread(t);
    return {};
}

Result<void> Engine::seize_every_thread(ProcessState& p,
                                        std::vector<std::pair<pid_t, std::optional<WaitStatus>>>& held) {
    const pid_t pid = p.pid;
    // A clone that began before its caller was seized makes an untraced
    // thread, which shows in /proc/PID/task only once the clone is well
    // under way, possibly after our last look. Such a thread would run
    // into our first breakpoint with nobody to catch the trap: the program
    // dies of SIGTRAP. So every seized thread is stopped (its system call,
    // clone included, finished: a stop happens on the way back to user
    // space) and the task list read again; threads found then are seized
    // and stopped in turn (they may have been cloning too), until a look
    // taken with every thread held finds none. Clones begun after their
    // caller was seized are traced by the kernel (PTRACE_O_TRACECLONE).
    while (true) {
        std::vector<pid_t> fresh;
        // Threads created while we seize are picked up by a later pass.
        for (int pass = 0; pass < 100; ++pass) {
            bool added = false;
            for (pid_t tid : list_tasks(pid)) {
                if (p.threads.count(tid) || (tid == pid && p.leader_exited)) continue;
                if (ptrace(PTRACE_SEIZE, tid, nullptr, kTraceOptions) != 0) {
                    const int err = errno;
                    if (err == ESRCH) continue; // exited meanwhile
                    // Made by a thread seized already: its first stop (or
                    // its creator's clone event) brings it in.
                    if (err == EPERM && tid != pid && seized_already_or_gone(tid)) continue;
                    // The main thread left with pthread_exit while others run
                    // on: a zombie, which cannot be seized (nor needs to be).
                    if (err == EPERM && tid == pid && thread_exited(pid)) {
                        p.leader_exited = true;
                        continue;
                    }
                    errno = err;
                    return Error::from_errno("PTRACE_SEIZE pid " + std::to_string(tid));
                }
                add_thread(p, tid, false);
                fresh.push_back(tid);
                added = true;
            }
            if (!added) break;
        }
        if (fresh.empty()) return {};
        for (pid_t tid : fresh) {
            auto t = p.threads.find(tid);
            if (t == p.threads.end()) continue; // an exec by another thread ended it
            // Events (clone, exec) are not handled yet: the process is not
            // set up. A clone's child is traced and waits for its event.
            auto stop = stop_thread(p, t->second, false);
            if (!find_process(pid)) return make_error(ErrorKind::ProcessGone, "process exited");
            if (stop) held.emplace_back(tid, *stop);
            // ESRCH: it is exiting; its end is reported to pump() later.
            else if (p.threads.count(tid) && stop.error().sys_errno != ESRCH)
                return std::move(stop).error();
        }
    }
}

Result<void> Engine::attach(pid_t pid) {
    if (pid <= 0) return make_error(ErrorKind::InvalidArgument, "invalid pid " + std::to_string(pid));
    if (procs_.count(pid)) return make_error(ErrorKind::InvalidArgument,
                                             "pid " + std::to_string(pid) + " is already traced");
    struct stat sb;
    std::string proc_dir = "/proc/" + std::to_string(pid);
    if (stat(proc_dir.c_str(), &sb) != 0)
        return make_error(ErrorKind::NotFound, "no such process " + std::to_string(pid));
    if (tid_owner_.count(pid))
        return make_error(ErrorKind::InvalidArgument,
                          std::to_string(pid) + " is a thread of traced process " +
                              std::to_string(tid_owner_[pid]));
    // Only a thread-group leader may be attached as a process.
    auto tasks = list_tasks(pid);
    if (!tasks.count(pid))
        return make_error(ErrorKind::NotFound, "no such process " + std::to_string(pid));

    auto proc = std::make_unique<ProcessState>();
    proc->pid = pid;
    ProcessState& p = *proc;
    procs_[pid] = std::move(proc);

    auto undo = [&](Error e) -> Result<void> {
        if (!find_process(pid)) return e; // it ended while being stopped: forgotten already
        for (auto& [tid, t] : p.threads) ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
        for (auto& [tid, t] : p.threads) tid_owner_.erase(tid);
        procs_.erase(pid);
        return e;
    };
    std::vector<std::pair<pid_t, std::optional<WaitStatus>>> held;
    auto seized = seize_every_thread(p, held);
    // The image is read with the threads stopped: a process still inside
    // execve (just started by its parent, whose fork returned at the
    // exec's point of no return) has no entry point in its auxv yet, and
    // its first stop comes once the new image is set up.
    auto image = seized ? init_process(p) : Result<void>{};
    if (seized && image) {
        // The program's SIGTRAP action, read before any trap of ours, on a
        // thread held at our interrupt (not inside a system call's event).
        // A thread lost meanwhile has its end dispatched by pump().
        for (auto& [tid, deferred] : held) {
            if (deferred) continue;
            (void)keep_sigtrap_at_rest(p, p.threads.at(tid));
            break;
        }
    }
    for (auto& [tid, deferred] : held) {
        if (!find_process(pid)) break;
        release_thread(p, tid, deferred);
    }
    if (!seized) return undo(std::move(seized).error());
    if (!find_process(pid)) return make_error(ErrorKind::ProcessGone, "process exited");
    if (p.threads.empty()) return undo(make_error(ErrorKind::ProcessGone, "process exited"));
    if (!image) return undo(std::move(image).error());

    auto page = map_page_near(p, p.entry_point);
    if (!page) {
        auto e = std::move(page).error();
        (void)detach(pid);
        return e;
    }
    spdlog::info("attached to pid {} ({} threads)", pid, p.threads.size());
    return {};
}

void Engine::forget_process(pid_t pid, int status) {
    auto it = procs_.find(pid);
    if (it == procs_.end()) return;
    ProcessState& p = *it->second;
    for (auto& [tid, t] : p.threads) tid_owner_.erase(tid);
    for (auto pit = probes_.begin(); pit != probes_.end();) {
        if (pit->second.info.pid == pid) pit = probes_.erase(pit);
        else ++pit;
    }
    ended_[pid] = status;
    procs_.erase(it);
    CallEvent ev;
    ev.type = EventType::Exit;
    ev.pid = pid;
    ev.tid = pid;
    ev.ts_ns = monotonic_ns();
    ev.exit_status = status;
    emit(std::move(ev));
    spdlog::info("pid {} ended (status 0x{:x})", pid, status);
    release_idle_followers();
}

std::optional<int> Engine::exit_status(pid_t pid) const {
    auto it = ended_.find(pid);
    if (it == ended_.end()) return std::nullopt;
    return it->second;
}

std::vector<pid_t> Engine::list_processes() const {
    std::vector<pid_t> out;
    for (const auto& [pid, p] : procs_) out.push_back(pid);
    return out;
}

std::vector<ProcessSummary> Engine::process_summaries() const {
    std::vector<ProcessSummary> out;
    for (const auto& [pid, p] : procs_)
        out.push_back({pid, p->threads.size(), p->spawned, p->held_at_entry,
                       p->breakpoints ? p->breakpoints->size() : 0});
    return out;
}

void Engine::detach_all() {
    std::vector<pid_t> pids = list_processes();
    for (pid_t pid : pids) {
        if (auto r = detach(pid); !r) spdlog::warn("detach {}: {}", pid, r.error().message);
    }
}

// waitpid(-1) reports the first waitable tracee in the kernel's list, so
// threads that stop again as soon as they are resumed could keep one later
// in the list waiting for ever (seen with 8 threads calling probed functions
// on an emulated CPU). With more than one thread traced, every stop waiting
// when one is reaped is taken too, and they are dispatched in that order
// before the kernel is asked again: each waiting thread is served in turn.
void Engine::reap_ready_stops() {
    if (tid_owner_.size() < 2) return; // one thread: nobody to starve
    int raw = 0;
    pid_t tid;
    for (size_t n = 0; n < tid_owner_.size(); ++n) {
        while ((tid = waitpid(-1, &raw, __WALL | WNOHANG)) < 0 && errno == EINTR) {}
        if (tid <= 0) return;
        ready_stops_.emplace_back(tid, raw);
    }
}

int Engine::pump(int timeout_ms) {
    int raw = 0;
    pid_t tid;
    if (!ready_stops_.empty()) {
        std::tie(tid, raw) = ready_stops_.front();
        ready_stops_.pop_front();
        dispatch(tid, WaitStatus(raw));
        return 1;
    }
    if (timeout_ms < 0) {
        // Blocking in waitpid itself is the cheapest wake-up there is: the
        // stop returns straight into our hands. kWakeSignal interrupts it.
        tid = waitpid(-1, &raw, __WALL);
        if (tid <= 0) return 0;
        reap_ready_stops();
        dispatch(tid, WaitStatus(raw));
        return 1;
    }
    while ((tid = waitpid(-1, &raw, __WALL | WNOHANG)) < 0 && errno == EINTR) {}
    if (tid > 0) {
        reap_ready_stops();
        dispatch(tid, WaitStatus(raw));
        return 1;
    }
    if (tid < 0 || timeout_ms == 0) return 0; // ECHILD: nothing traced
    // Sleep until a SIGCHLD says a tracee changed state. SIGCHLD does not
    // queue, so each call handles one stop and the next finds the rest.
    pollfd pfd{sigchld_fd_.get(), POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0) return 0;
    signalfd_siginfo infos[16];
    (void)!read(sigchld_fd_.get(), infos, sizeof infos);
    while ((tid = waitpid(-1, &raw, __WALL | WNOHANG)) < 0 && errno == EINTR) {}
    if (tid <= 0) return 0;
    reap_ready_stops();
    dispatch(tid, WaitStatus(raw));
    return 1;
}

} // namespace probed
