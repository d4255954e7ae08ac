// Decoding what a tracee stop means and acting on it.
#include "daemon/engine.h"

#include "common/monotonic_clock.h"
#include "arch/host.h"
#include "daemon/proc_task.h"

#include <spdlog/spdlog.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <string>

namespace probed {

namespace host = arch::host;

namespace {

// Whether the signal `tid` is stopped for came from kill(2), tgkill(2),
// sigqueue(3) and the like (si_code SI_USER, SI_TKILL, SI_QUEUE: <= 0),
// not from the CPU.
bool sent_by_a_process(pid_t tid) {
    siginfo_t si{};
    return ptrace(PTRACE_GETSIGINFO, tid, nullptr, &si) == 0 && si.si_code <= 0;
}

} // namespace

void Engine::emit(CallEvent ev) {
    if (!events_.push(std::move(ev))) {
        // Counted per probe inside the queue; the subscriber sees a dropped event later.
    }
}

void Engine::resume_thread(ThreadState& t, int sig) {
    if (sig == 0 && t.held_signal != 0 && t.run != ThreadState::Run::Stepping) {
        sig = t.held_signal;
        t.held_signal = 0;
    }
    __ptrace_request req = t.run == ThreadState::Run::Stepping ? PTRACE_SINGLESTEP : PTRACE_CONT;
    if (t.run != ThreadState::Run::Stepping) t.run = ThreadState::Run::Running;
    if (ptrace(req, t.tid, nullptr, static_cast<long>(sig)) != 0 && errno != ESRCH)
        spdlog::warn("tid {}: resume failed: {}", t.tid, std::strerror(errno));
}

void Engine::dispatch(pid_t tid, WaitStatus st) {
    ++counters_.stops;
    SPDLOG_TRACE("tid {}: {} sig {} event {}", tid, wait_kind_name(st.kind()), st.signal(), st.event());
    ProcessState* proc = owner_of(tid);
    if (!proc && st.exited_or_killed() && find_process(tid)) {
        // The exit of a leader that left before the others (pthread_exit),
        // which comes after theirs.
        forget_process(tid, st.raw());
        return;
    }
    if (!proc) {
        // A new thread whose creator's clone event we have not handled yet.
        pid_t tgid = st.exited_or_killed() ? 0 : tgid_of(tid);
        // (A thread of a process whose leader left takes the leader's tid
        // when it execs: not a new process.)
        if (tgid == tid && !find_process(tid)) {
            // A new process: a fork child whose parent's event comes next.
            early_child_stops_.emplace(tid, st);
            return;
        }
        proc = tgid ? find_process(tgid) : nullptr;
        if (!proc) {
            if (!st.exited_or_killed()) {
                spdlog::warn("stop of unknown tid {} ({}); letting it go", tid,
                             wait_kind_name(st.kind()));
                ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
            }
            return;
        }
        add_thread(*proc, tid, true);
    }
    ThreadState& t = proc->threads[tid];
    if (proc->slots && proc->slots->has_pending() && !st.exited_or_killed()) {
        if (auto regs = host::get_regs(tid)) proc->slots->observe(tid, host::pc_of(*regs));
    }

    switch (st.kind()) {
    case WaitStatus::Kind::Exited:
    case WaitStatus::Kind::Killed:
        remove_thread(*proc, tid);
        // The leader's exit comes after every other thread's; the last
        // thread of one whose leader left before is the end too.
        if (tid == proc->pid || proc->threads.empty()) forget_process(proc->pid, st.raw());
        return;
    case WaitStatus::Kind::GroupStop:
        // Job control: stay stopped until SIGCONT, but keep reporting to us.
        t.run = ThreadState::Run::Running;
        if (ptrace(PTRACE_LISTEN, tid, nullptr, nullptr) != 0 && errno != ESRCH)
            spdlog::warn("tid {}: PTRACE_LISTEN: {}", tid, std::strerror(errno));
        return;
    case WaitStatus::Kind::InterruptStop:
        t.expect_interrupt = false;
        if (proc->held_at_entry && tid == proc->pid) {
            t.run = ThreadState::Run::Stopped;
            return;
        }
        // A new thread's first stop comes before it runs: a SIGTRAP handler
        // installed since we looked is read before its traps can reset it.
        if (!keep_sigtrap_at_rest(*proc, t)) return;
        resume_thread(t);
        return;
    case WaitStatus::Kind::EventStop:
        on_event_stop(*proc, t, st.event());
        return;
    case WaitStatus::Kind::SignalStop:
        on_signal_stop(*proc, t, st.signal());
        return;
    }
}

void Engine::on_event_stop(ProcessState& proc, ThreadState& t, int event) {
    switch (event) {
    case PTRACE_EVENT_CLONE: {
        unsigned long msg = 0;
        ptrace(PTRACE_GETEVENTMSG, t.tid, nullptr, &msg);
        pid_t child = static_cast<pid_t>(msg);
        // Its first (auto-attach) stop may already have been handled.
        if (!proc.threads.count(child)) add_thread(proc, child, true);
        break;
    }
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK: {
        unsigned long msg = 0;
        ptrace(PTRACE_GETEVENTMSG, t.tid, nullptr, &msg);
        on_fork(proc, t, static_cast<pid_t>(msg), event == PTRACE_EVENT_VFORK);
        break;
    }
    case PTRACE_EVENT_EXEC:
        if (t.vfork_child) {
            // Its own address space now: nothing of ours in it.
            pid_t tid = t.tid;
            remove_thread(proc, tid);
            ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
            return;
        }
        on_exec(proc, t.tid);
        return;
    default:
        break;
    }
    resume_thread(t);
}

void Engine::on_exec(ProcessState& proc, pid_t tid) {
    // The old address space is gone: our breakpoints, slots and hijacked
    // return addresses went with it. Probes on it can no longer fire.
    // Calls in flight in the old image never return: report them (as the
    // threads' end) before the old threads and sites are forgotten.
    std::vector<pid_t> others;
    for (const auto& [other, ts] : proc.threads)
        if (other != tid) others.push_back(other);
    for (pid_t other : others) remove_thread(proc, other);
    ++proc.image_generation;
    {
        ThreadState& execer = proc.threads[tid];
        auto frames = execer.shadow.take_all();
        uint64_t now = monotonic_ns();
        for (size_t i = frames.size(); i-- > 0;)
            report_return(proc, execer, frames[i], ExitKind::ThreadExit, nullptr, now);
    }
    if (tid != proc.pid) {
        // A non-leader exec'd: the kernel gives it the leader's tid.
        ThreadState t = proc.threads[tid];
        proc.threads.erase(tid);
        tid_owner_.erase(tid);
        t.tid = proc.pid;
        proc.threads[proc.pid] = t;
        tid_owner_[proc.pid] = proc.pid;
    }
    ThreadState& leader = proc.threads[proc.pid];
    leader.run = ThreadState::Run::Running;
    proc.leader_exited = false; // the exec's thread leads now
    proc.sites.clear();
    proc.retired_sites.clear();
    proc.retired_stubs.clear();
    proc.trampolines.clear();
    proc.unwind_hooks_armed = proc.unwind_hooks_retiring = false;
    proc.unwind_hook_modules.clear();
    leader.unwinding = leader.forced_unwind = false;
    leader.unwind_restored.clear();
    if (auto r = init_process(proc); !r)
        spdlog::warn("pid {} after exec: {}", proc.pid, r.error().message);
    proc.sigtrap.after_exec();
    end_probes_at_exec(proc);
    resume_thread(leader);
}

void Engine::on_signal_stop(ProcessState& proc, ThreadState& t, int sig) {
    if (t.run == ThreadState::Run::Stepping) {
        if (sig == SIGTRAP) {
            if (!keep_sigtrap_at_trap(proc, t)) return;
            on_step_done(proc, t);
            return;
        }
        auto regs = host::get_regs(t.tid);
        if (regs && host::pc_of(*regs) == t.step_slot) {
            // The displaced instruction has not run: it faulted, or the
            // signal came first. Deliver it at the original address, as the
            // program would have seen it (holding it instead would lose all
            // but one of several queued signals); the instruction runs
            // again when the handler returns there. The step's own site
            // is used: it may have been removed meanwhile.
            t.run = ThreadState::Run::Running;
            reenter_at_site(t, t.step_site, host::stack_pointer_of(*regs));
            resume_thread(t, sig);
            return;
        }
        if (t.held_signal == 0) t.held_signal = sig;
        else spdlog::warn("tid {}: signal {} lost while stepping", t.tid, sig);
        resume_thread(t);
        return;
    }

    auto regs = host::get_regs(t.tid);
    if (!regs) {
        resume_thread(t, sig);
        return;
    }
    if (sig == SIGTRAP) {
        uint64_t bp = host::breakpoint_address_from_pc(host::pc_of(*regs));
        // Each of our traps first puts back a SIGTRAP handler it may have
        // cost the program (sigtrap_disposition.h).
        if (proc.trampolines.is_trampoline(bp)) {
            if (!keep_sigtrap_at_trap(proc, t)) return;
            ++counters_.return_hits;
            on_return_hit(proc, t, *regs);
            if (proc.unwind_hooks_retiring) retire_unwind_hooks(proc);
            return;
        }
        if (proc.rearm_pending && bp == proc.entry_point) {
            if (!keep_sigtrap_at_trap(proc, t)) return;
            rearm_at_entry(proc, t);
            return;
        }
        if (auto it = proc.sites.find(bp); it != proc.sites.end()) {
            if (!keep_sigtrap_at_trap(proc, t)) return;
            ++counters_.entry_hits;
            on_entry_hit(proc, t, it->second, *regs);
            if (!proc.sites_to_drop.empty()) drop_finished_sites(proc);
            if (proc.unwind_hooks_retiring) retire_unwind_hooks(proc);
            return;
        }
        // After the sites: finding a stub's miss trap scans them all, and
        // entry hits are far more frequent.
        if (ProbeSite* site = site_of_stub_trap(proc, bp)) {
            if (!keep_sigtrap_at_trap(proc, t)) return;
            on_stub_miss(proc, t, *site, *regs);
            return;
        }
        if (proc.retired_sites.count(bp) && !proc.breakpoints->contains(bp)) {
            // Trapped on a breakpoint removed before we saw the stop: run the
            // original instruction as if nothing happened.
            siginfo_t si{};
            ptrace(PTRACE_GETSIGINFO, t.tid, nullptr, &si);
            if (si.si_code == host::kBreakpointSiCode) {
                if (!keep_sigtrap_at_trap(proc, t)) return;
                (void)host::set_pc(t.tid, bp);
                resume_thread(t);
                return;
            }
        }
        spdlog::debug("tid {}: SIGTRAP at {:#x} is not ours: the program's", t.tid,
                      host::pc_of(*regs));
        if (proc.sigtrap.kind == SigtrapKind::Ignored && sent_by_a_process(t.tid)) {
            // The program ignores SIGTRAP, but our injected code's trap
            // may have reset that since our last trap put it back: the
            // kernel would have discarded this one. (One it raises itself
            // with an instruction resets the disposition and kills it,
            // with or without us: that one passes.)
            if (!keep_sigtrap_at_trap(proc, t)) return;
            resume_thread(t);
            return;
        }
    } else {
        // A fault raised by a displaced instruction, or any other signal:
        // handlers see the original address, never our page.
        leave_slot_for_signal(proc, t, *regs);
    }
    resume_thread(t, sig);
}

} // namespace probed
