// Holding threads still: for an injected syscall on one thread, and for
// detaching, where every thread must be stopped before we undo our changes.
#include "daemon/engine.h"

#include "common/monotonic_clock.h"
#include "arch/host.h"
#include "daemon/detached_returns.h"
#include "daemon/proc_task.h"
#include "daemon/process_maps.h"
#include "daemon/remote_syscall.h"
#include "daemon/return_locator.h"
#include "daemon/return_signer.h"
#include "daemon/signed_release.h"

#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <csignal>
#include <set>

namespace probed {

namespace host = arch::host;

// A thread that executed one of our traps just as PTRACE_INTERRUPT arrived
// reports the interrupt first (the kernel handles job-control traps before
// dequeuing signals) while the trap's SIGTRAP waits in its queue. Letting go
// of it then would deliver SIGTRAP to the program.
// The same holds for the trap that ends a single-step of a stepped slot: the
// PC is then wherever the displaced instruction went (a call's target), and
// the step still needs its fixup (a call pushed a return address into our
// page).
bool Engine::interrupted_on_our_trap(ProcessState& proc, pid_t tid) {
    auto regs = host::get_regs(tid);
    if (!regs) return false;
    uint64_t bp = host::breakpoint_address_from_pc(host::pc_of(*regs));
    auto it = proc.threads.find(tid);
    bool stepping = it != proc.threads.end() && it->second.run == ThreadState::Run::Stepping;
    // An entry stub's miss trap is ours too (a call from another place than
    // the one its stub serves: each new thread's first call of a probed
    // function), and so is a breakpoint just removed.
    bool ours = proc.trampolines.is_trampoline(bp) || proc.sites.count(bp) || stepping ||
                site_of_stub_trap(proc, bp) != nullptr || proc.retired_sites.count(bp);
    return ours && sigtrap_pending(tid);
}

bool Engine::wait_tid(pid_t tid, int& raw) {
    for (auto it = ready_stops_.begin(); it != ready_stops_.end(); ++it) {
        if (it->first != tid) continue;
        raw = it->second;
        ready_stops_.erase(it);
        return true;
    }
    // Not waitpid(tid): a killed process's leader cannot be reaped before
    // its other threads are, which nobody would do while we wait on it.
    // Stops of other threads are kept for later, in the order they came.
    // A leader whose thread left with pthread_exit while others run on
    // never stops again, and its exit comes only after theirs: waiting for
    // a leader looks at its state whenever no stop is ready.
    const bool leader = find_process(tid) != nullptr;
    while (true) {
        const pid_t got = waitpid(-1, &raw, __WALL | (leader ? WNOHANG : 0));
        if (got < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (got == tid) return true;
        if (got > 0) {
            ready_stops_.emplace_back(got, raw);
            continue;
        }
        if (thread_exited(tid)) {
            errno = ESRCH;
            return false;
        }
        // Until a tracee's next stop (SIGCHLD), or a look again soon.
        pollfd pfd{sigchld_fd_.get(), POLLIN, 0};
        if (poll(&pfd, 1, 10) > 0) {
            signalfd_siginfo infos[16];
            (void)!read(sigchld_fd_.get(), infos, sizeof infos);
        }
    }
}

Result<std::optional<WaitStatus>> Engine::stop_thread(ProcessState& proc, ThreadState& t,
                                                      bool events_too) {
    if (t.run == ThreadState::Run::Stopped) return std::optional<WaitStatus>{};
    const pid_t tid = t.tid;
    const pid_t pid = proc.pid;
    const auto gone = [tid] {
        return make_error(ErrorKind::ProcessGone, "thread " + std::to_string(tid) + " exited");
    };
    int raw = 0;
    WaitStatus st(0);
    while (true) {
        if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0)
            return Error::from_errno("PTRACE_INTERRUPT " + std::to_string(tid));
        if (!wait_tid(tid, raw)) {
            if (errno != ESRCH) return Error::from_errno("waitpid");
            remove_thread(proc, tid); // the main thread left (pthread_exit)
            return gone();
        }
        st = WaitStatus(raw);
        if (st.exited_or_killed()) {
            dispatch(tid, st);
            return gone();
        }
        if (st.kind() != WaitStatus::Kind::EventStop) break;
        if (!events_too) {
            // The event may have dropped our interrupt (below); a stray
            // interrupt stop later is resumed.
            t.expect_interrupt = false;
            return std::optional<WaitStatus>{st};
        }
        // Inside a system call (clone, fork, exec...): its end would
        // overwrite the registers of any code we ran now, and with them the
        // call's result (a thread's creator would get garbage for the new
        // tid), and the event may have dropped our interrupt (the kernel's
        // ptrace_stop clears a pending STOP trap at any trap). Let the event
        // be handled and the call finish, then interrupt again.
        dispatch(tid, st);
        if (!find_process(pid)) return make_error(ErrorKind::ProcessGone, "process exited");
        auto it = proc.threads.find(tid);
        if (it == proc.threads.end()) return gone();
        if (it->second.run == ThreadState::Run::Stopped) return std::optional<WaitStatus>{};
    }
    if (st.kind() == WaitStatus::Kind::InterruptStop) {
        t.expect_interrupt = false;
        if (!interrupted_on_our_trap(proc, tid)) return std::optional<WaitStatus>{};
        // Take the pending trap as the stop to handle afterwards.
        ptrace(PTRACE_CONT, tid, nullptr, nullptr);
        if (!wait_tid(tid, raw)) return Error::from_errno("waitpid");
        st = WaitStatus(raw);
        if (st.exited_or_killed()) {
            dispatch(tid, st);
            return make_error(ErrorKind::ProcessGone, "thread " + std::to_string(tid) + " exited");
        }
        return std::optional<WaitStatus>{st};
    }
    // A signal's stop came first; our interrupt is still to come (the
    // kernel reports jobctl traps before it dequeues a signal, so the
    // interrupt was sent after this stop began).
    t.expect_interrupt = true;
    return std::optional<WaitStatus>{st};
}

void Engine::release_thread(ProcessState& proc, pid_t tid, std::optional<WaitStatus> deferred) {
    if (deferred) {
        dispatch(tid, *deferred);
        return;
    }
    auto it = proc.threads.find(tid);
    if (it == proc.threads.end()) return;
    if (proc.held_at_entry && tid == proc.pid) {
        it->second.run = ThreadState::Run::Stopped;
        return;
    }
    resume_thread(it->second);
}

Result<void> Engine::stop_all_threads(ProcessState& proc) {
    pid_t pid = proc.pid;
    std::set<pid_t> waiting, reinterrupt;
    for (auto& [tid, t] : proc.threads) {
        if (t.run == ThreadState::Run::Stopped) continue;
        if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) == 0) waiting.insert(tid);
    }
    while (!waiting.empty()) {
        pid_t tid = *waiting.begin();
        int raw = 0;
        if (!wait_tid(tid, raw)) {
            // Gone, or the main thread left while others run on.
            waiting.erase(tid);
            if (find_process(pid)) remove_thread(proc, tid);
            continue;
        }
        WaitStatus st(raw);
        if (st.kind() == WaitStatus::Kind::InterruptStop && interrupted_on_our_trap(proc, tid)) {
            // Let the pending trap be reported and handled, then interrupt again.
            ptrace(PTRACE_CONT, tid, nullptr, nullptr);
            reinterrupt.insert(tid);
            continue;
        }
        if (st.kind() == WaitStatus::Kind::InterruptStop ||
            st.kind() == WaitStatus::Kind::GroupStop) {
            ThreadState& t = proc.threads[tid];
            t.run = ThreadState::Run::Stopped;
            t.expect_interrupt = false;
            waiting.erase(tid);
            continue;
        }
        size_t before = proc.threads.size();
        // Everything else (hits, steps, signals, clones, exec, exits) is
        // handled as usual, which resumes the thread.
        dispatch(tid, st);
        if (!find_process(pid)) return make_error(ErrorKind::ProcessGone, "process exited");
        reinterrupt.erase(tid);
        if (proc.threads.size() > before) {
            for (auto& [ntid, nt] : proc.threads)
                if (nt.expect_interrupt && nt.run != ThreadState::Run::Stopped) waiting.insert(ntid);
        }
        // Interrupt again every thread still awaited. A ptrace event stop
        // (clone, exec) drops a pending interrupt: the kernel's ptrace_stop
        // clears the STOP trap at any trap, so without a new one a thread
        // that makes no further trap would be waited for forever. An exec
        // by another thread hands its tid to the leader and ends the rest.
        // Interrupting a thread whose interrupt is still pending changes
        // nothing: it stops once.
        for (auto it = waiting.begin(); it != waiting.end();) {
            auto t = proc.threads.find(*it);
            if (t == proc.threads.end() || t->second.run == ThreadState::Run::Stopped) {
                it = waiting.erase(it);
                continue;
            }
            ptrace(PTRACE_INTERRUPT, *it, nullptr, nullptr);
            ++it;
        }
    }
    return {};
}

void Engine::move_out_of_slots(ProcessState& proc) {
    for (auto& [tid, t] : proc.threads) {
        auto regs = host::get_regs(tid);
        if (!regs) continue;
        if (proc.trampolines.is_trampoline(host::pc_of(*regs))) {
            // `ret` landed on the trampoline but its trap has not run yet.
            ++counters_.detach_in_page;
            spdlog::debug("tid {}: on the return trampoline at detach", tid);
            on_return_hit(proc, t, *regs); // resumes; take it back
            (void)stop_thread(proc, t);
            t.run = ThreadState::Run::Stopped;
            continue;
        }
        if (proc.slots->owns(host::pc_of(*regs))) {
            ++counters_.detach_in_page;
            spdlog::debug("tid {}: in a slot at {:#x} at detach", tid, host::pc_of(*regs));
            // At the start of a slot the displaced instruction has not run:
            // run it at its original address, where the program's own bytes
            // are back. Single-stepping it here instead would skip the
            // fixup of a stepped slot (a call through memory would push a
            // return address into the page we are about to unmap).
            leave_slot_for_signal(proc, t, *regs);
            regs = host::get_regs(tid);
            if (!regs) continue;
        }
        // A boosted slot is at most an instruction and a jump: step it out.
        for (int i = 0; i < 8 && proc.slots->owns(host::pc_of(*regs)); ++i) {
            if (ptrace(PTRACE_SINGLESTEP, tid, nullptr, nullptr) != 0) break;
            int raw = 0;
            if (!wait_tid(tid, raw)) break;
            WaitStatus st(raw);
            if (st.exited_or_killed()) break;
            if (st.kind() == WaitStatus::Kind::SignalStop && st.signal() != SIGTRAP &&
                t.held_signal == 0)
                t.held_signal = st.signal();
            regs = host::get_regs(tid);
            if (!regs) break;
        }
        if (regs && proc.slots->owns(host::pc_of(*regs)))
            spdlog::error("pid {} tid {}: still inside our page at {:#x} at detach", proc.pid, tid,
                          host::pc_of(*regs));
    }
}

std::vector<arch::DetachedReturn> Engine::restore_return_addresses(ProcessState& proc) {
    uint64_t now = monotonic_ns();
    std::vector<arch::DetachedReturn> left;
    // Every thread is held: one snapshot serves all.
    ProcessStackBounds stacks = process_stack_bounds(proc);
    for (auto& [tid, t] : proc.threads) {
        auto frames = t.shadow.take_all();
        spdlog::debug("tid {}: restoring {} hijacked return addresses", tid, frames.size());
        auto got = host::get_regs(tid);
        host::Regs regs = got ? *got : host::Regs{};
        const host::Regs before = regs;
        // An unhijacked frame (the program's unwinder is walking) already
        // holds its true return address.
        auto spots = locate_returns(*proc.mem, frames, regs, stacks, [&](const ShadowFrame& f) {
            return std::optional<uint64_t>(f.hijacked ? f.trampoline : f.return_address);
        });
        std::vector<bool> live(frames.size());
        const uint64_t pac_mask = host::pac_code_mask(tid);
        for (const ReturnSpot& spot : spots) {
            live[spot.frame] = true;
            const ShadowFrame& f = frames[spot.frame];
            // A signed copy that reads as the plain address is signed below.
            if (f.hijacked && copy_form_at(proc, f, spot, before, pac_mask) == CopyForm::Plain)
                (void)write_return(*proc.mem, regs, spot, f.return_address);
        }
        // ...or the true address the tracee signed for the unwinder where a
        // signed copy was (pointer authentication), while it still is there.
        for (const RestoredReturn& r : t.unwind_restored)
            for (size_t i = 0; i < frames.size(); ++i)
                if (!frames[i].hijacked && frames[i].entry_sp == r.entry_sp &&
                    read_return(*proc.mem, regs, r.spot) == r.restored)
                    live[i] = true;
        // Copies signed by pointer authentication: the tracee signs the
        // true address for them, on this thread (its keys), while our page
        // is still mapped. Those that fail the check still return to the
        // trampoline. The frames found in neither form are gone (longjmp).
        SignedRelease released;
        {
            ReturnSigner signer({proc.mem.get(), proc.entry_point, tid, &t.held_signal});
            released = release_signed_calls(
                signer, *proc.mem, tid, frames, regs, stacks,
                [&](const ShadowFrame& f) { return entry_signing_key(proc, f.site); },
                [&] { return link_state_at(proc, before); });
            counters_.signing_stub_runs += signer.runs();
        } // the signer puts the registers it found back: set ours after it
        if (got) (void)host::set_changed_regs(tid, before, regs);
        counters_.signed_at_detach += released.resigned;
        counters_.zero_code_link_registers += released.zero_code_in_register;
        left.insert(left.end(), released.left.begin(), released.left.end());
        for (size_t i = frames.size(); i-- > 0;) {
            const bool pending = live[i] || released.pending[i];
            report_return(proc, t, frames[i], pending ? ExitKind::Detach : ExitKind::Longjmp,
                          nullptr, now);
        }
    }
    return left;
}

uint64_t Engine::leave_detached_returns(ProcessState& proc, RemoteSyscall* scope,
                                        const std::vector<arch::DetachedReturn>& left) {
    std::set<uint64_t> sps;
    for (const arch::DetachedReturn& r : left)
        if (!sps.insert(r.entry_sp).second)
            spdlog::warn("pid {}: two calls left at sp {:#x}: the first listed wins", proc.pid,
                         r.entry_sp);
    const uint64_t trampoline = proc.trampolines.generic();
    uint64_t table_at = detached_table_in_page(trampoline, left.size());
    if (table_at == 0) {
        // More than the page holds after the stub: a read-only mapping of
        // its own, which stays too.
        constexpr uint64_t kPage = 4096;
        uint64_t size = (host::detached_return_table(left).size() + kPage - 1) & ~(kPage - 1);
        Result<int64_t> r = make_error(ErrorKind::Internal, "no thread to run mmap on");
        if (scope)
            r = scope->call(SYS_mmap, {0, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, ~0ull, 0});
        if (!r || *r < 0) {
            spdlog::error("pid {}: no memory for {} detached returns: those calls will trap",
                          proc.pid, left.size());
            return 0;
        }
        table_at = static_cast<uint64_t>(*r);
    }
    if (auto w = write_detached_returns(*proc.mem, trampoline, table_at, left); !w) {
        spdlog::error("pid {}: writing the detached returns: {}", proc.pid, w.error().message);
        return 0;
    }
    counters_.detached_returns += left.size();
    spdlog::warn("pid {}: {} calls keep a signed trampoline address that could not be re-signed; "
                 "the page at {:#x} stays mapped to return them (table at {:#x}); a return "
                 "that finds no entry there raises SIGTRAP",
                 proc.pid, left.size(), trampoline, table_at);
    return trampoline;
}

Result<void> Engine::detach(pid_t pid) {
    ProcessState* proc = find_process(pid);
    if (!proc) return make_error(ErrorKind::NotFound, "pid " + std::to_string(pid) + " is not traced");
    bool was_held = proc->held_at_entry;
    proc->held_at_entry = false;
    if (auto r = stop_all_threads(*proc); !r) {
        if (!find_process(pid)) return {}; // it exited: nothing left to undo
        spdlog::warn("pid {}: stopping threads: {}", pid, r.error().message);
    }
    // All threads are stopped: nothing can hit a breakpoint or return
    // through the trampoline while we undo our changes.
    if (auto r = proc->breakpoints->remove_all(*proc->mem); !r)
        spdlog::warn("pid {}: restoring code: {}", pid, r.error().message);
    move_out_of_slots(*proc);
    auto left = restore_return_addresses(*proc);
    proc->sites.clear();

    if (!proc->threads.empty() && !proc->slots->pages().empty()) {
        ThreadState& t = proc->threads.count(pid) ? proc->threads[pid] : proc->threads.begin()->second;
        auto scope = RemoteSyscall::begin(*proc, t);
        // The trampoline's page stays when calls still return through it.
        uint64_t kept =
            left.empty() ? 0 : leave_detached_returns(*proc, scope ? &*scope : nullptr, left);
        if (scope) {
            for (uint64_t page : proc->slots->pages()) {
                if (page == kept) continue;
                auto r = scope->call(SYS_munmap, {page, 4096});
                if (!r || *r != 0) spdlog::warn("pid {}: munmap {:#x} failed", pid, page);
            }
            // Last: our traps (the munmaps' too) reset an ignored SIGTRAP.
            restore_sigtrap_at_detach(*proc, t, *scope);
        } else {
            spdlog::warn("pid {}: cannot unmap our pages: {}", pid, scope.error().message);
        }
    }
    for (auto& [tid, t] : proc->threads) {
        int sig = t.held_signal;
        // A process we spawned and never resumed is let go running.
        (void)was_held;
        if (ptrace(PTRACE_DETACH, tid, nullptr, static_cast<long>(sig)) != 0 && errno != ESRCH)
            spdlog::warn("tid {}: PTRACE_DETACH: {}", tid, std::strerror(errno));
        tid_owner_.erase(tid);
    }
    for (auto it = probes_.begin(); it != probes_.end();) {
        if (it->second.info.pid == pid) it = probes_.erase(it);
        else ++it;
    }
    procs_.erase(pid);
    spdlog::info("detached from pid {}", pid);
    release_idle_followers();
    return {};
}

} // namespace probed
