// Keeping the program's SIGTRAP disposition as the program set it, though
// our traps make the kernel reset it (daemon/sigtrap_disposition.h).
#include "daemon/engine.h"

#include "arch/host.h"
#include "common/monotonic_clock.h"
#include "daemon/remote_syscall.h"
#include "daemon/stack_scratch.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <string>

namespace probed {

namespace host = arch::host;

namespace {

// SIGTRAP's kind now, from /proc/PID/stat through the kept descriptor.
// `tid`: ProcessState::proc_files_tid(), which changes when the main thread
// leaves: the file of a thread gone reads nothing and is opened again.
std::optional<SigtrapKind> look(SigtrapDisposition& d, pid_t tid) {
    // 52 fields of at most 20 digits, a command name of at most 64 bytes.
    char text[2048];
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!d.stat_fd.valid())
            d.stat_fd.reset(::open(("/proc/" + std::to_string(tid) + "/stat").c_str(),
                                   O_RDONLY | O_CLOEXEC));
        const ssize_t n = pread(d.stat_fd.get(), text, sizeof text, 0);
        if (n > 0) return sigtrap_kind_from_stat({text, static_cast<size_t>(n)});
        d.stat_fd.reset();
    }
    return std::nullopt;
}

} // namespace

bool Engine::read_sigtrap_action(ProcessState& proc, ThreadState& t, SigtrapKind seen) {
    const uint64_t now = monotonic_ns();
    auto scope = RemoteSyscall::begin(proc, t);
    if (!scope) {
        spdlog::warn("pid {}: cannot read the program's SIGTRAP action: {}", proc.pid,
                     scope.error().message);
        return true;
    }
    bool read = false;
    KernelSigaction action;
    {
        // The kernel writes the action there; the program gets its bytes back.
        auto scratch = StackScratch::below_stack(*proc.mem, t.tid, scope->saved_regs(),
                                                 sizeof(KernelSigaction));
        if (!scratch) {
            spdlog::warn("tid {}: cannot read the program's SIGTRAP action: {}", t.tid,
                         scratch.error().message);
            return true;
        }
        const std::initializer_list<uint64_t> args = {SIGTRAP, 0, scratch->address(),
                                                      kKernelSigsetSize};
        // The stub's trap would reset an ignored SIGTRAP.
        auto r = seen == SigtrapKind::Ignored
                     ? scope->last_call_without_trap(SYS_rt_sigaction, args)
                     : scope->call(SYS_rt_sigaction, args);
        read = r && *r == 0 &&
               proc.mem->read(scratch->address(),
                              std::span(reinterpret_cast<uint8_t*>(&action), sizeof action));
    }
    if (auto lost = scope->lost_status()) {
        ready_stops_.emplace_back(t.tid, lost->raw());
        return false;
    }
    if (!read) {
        spdlog::warn("tid {}: injected rt_sigaction failed", t.tid);
        return true;
    }
    ++counters_.sigtrap_reads;
    proc.sigtrap.captured(action, now);
    spdlog::debug("pid {}: the program's SIGTRAP handler is {:#x} (flags {:#x})", proc.pid,
                  action.handler, action.flags);
    return true;
}

bool Engine::write_sigtrap_action(ProcessState& proc, RemoteSyscall& scope,
                                  std::optional<uint64_t> at) {
    SigtrapDisposition& d = proc.sigtrap;
    if (!at) {
        // The kernel only reads it: a slot of our read-only page will do,
        // kept for the next time.
        if (d.action_slot == 0) {
            auto slot = proc.slots->allocate(proc.entry_point, ~0ull);
            if (!slot) {
                spdlog::warn("pid {}: no slot for the program's SIGTRAP action", proc.pid);
                return false;
            }
            d.action_slot = *slot;
        }
        at = d.action_slot;
    }
    if (!proc.mem->write(*at, {reinterpret_cast<const uint8_t*>(&*d.action), sizeof *d.action}))
        return false;
    const std::initializer_list<uint64_t> args = {SIGTRAP, *at, 0, kKernelSigsetSize};
    // A trap after setting SIG_IGN would reset it at once.
    auto r = d.kind == SigtrapKind::Ignored ? scope.last_call_without_trap(SYS_rt_sigaction, args)
                                            : scope.call(SYS_rt_sigaction, args);
    if (!r || *r != 0) {
        spdlog::warn("pid {}: putting back the program's SIGTRAP action failed", proc.pid);
        return false;
    }
    ++counters_.sigtrap_restores;
    return true;
}

bool Engine::keep_sigtrap_at_trap(ProcessState& proc, ThreadState& t) {
    SigtrapDisposition& d = proc.sigtrap;
    const uint64_t now = monotonic_ns();
    if (!d.look_due(now)) return true;
    d.next_look_ns = now + SigtrapDisposition::kLookEveryNs;
    auto seen = look(d, proc.proc_files_tid());
    if (!seen) return true;
    switch (d.step_at_trap(*seen, now)) {
    case SigtrapStep::Nothing:
        return true;
    case SigtrapStep::Capture:
        return read_sigtrap_action(proc, t, *seen);
    case SigtrapStep::Restore: {
        auto scope = RemoteSyscall::begin(proc, t);
        if (!scope) return true;
        write_sigtrap_action(proc, *scope);
        if (auto lost = scope->lost_status()) {
            ready_stops_.emplace_back(t.tid, lost->raw());
            return false;
        }
        return true;
    }
    }
    return true;
}

bool Engine::keep_sigtrap_at_rest(ProcessState& proc, ThreadState& t) {
    if (!proc.mem || !proc.slots) return true; // not set up yet
    auto seen = look(proc.sigtrap, proc.proc_files_tid());
    if (seen && proc.sigtrap.step_at_rest(*seen) == SigtrapStep::Capture)
        return read_sigtrap_action(proc, t, *seen);
    return true;
}

void Engine::restore_sigtrap_at_detach(ProcessState& proc, ThreadState& t, RemoteSyscall& scope) {
    if (proc.sigtrap.kind == SigtrapKind::Default) return;
    auto seen = look(proc.sigtrap, proc.proc_files_tid());
    if (!seen || *seen != SigtrapKind::Default) return;
    // Our pages are unmapped by now: the action goes below the stack pointer.
    auto scratch = StackScratch::below_stack(*proc.mem, t.tid, scope.saved_regs(),
                                             sizeof(KernelSigaction));
    if (!scratch) {
        spdlog::warn("pid {}: the program's SIGTRAP action is left at SIG_DFL: {}", proc.pid,
                     scratch.error().message);
        return;
    }
    write_sigtrap_action(proc, scope, scratch->address());
}

} // namespace probed
