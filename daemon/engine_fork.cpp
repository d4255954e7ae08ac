// Children of traced processes. A fork child gets a copy of the parent's
// memory, our breakpoints and hijacked return addresses included, and nobody
// to handle them: we scrub it and let it go before it runs. A vfork child
// shares the parent's memory, so it is traced like one of its threads until
// it execs or exits.
#include "daemon/engine.h"

#include "arch/host.h"
#include "daemon/detached_returns.h"
#include "daemon/return_locator.h"
#include "daemon/return_signer.h"
#include "daemon/signed_release.h"

#include <spdlog/spdlog.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

namespace probed {

void Engine::on_fork(ProcessState& proc, ThreadState& parent, pid_t child, bool vfork) {
    std::optional<WaitStatus> first;
    if (auto it = early_child_stops_.find(child); it != early_child_stops_.end()) {
        first = it->second;
        early_child_stops_.erase(it);
    } else {
        int raw = 0;
        if (!wait_tid(child, raw)) {
            spdlog::warn("fork child {}: waitpid: {}", child, std::strerror(errno));
            return;
        }
        first = WaitStatus(raw);
    }
    if (first->exited_or_killed()) return;

    if (vfork) {
        add_thread(proc, child, false);
        ThreadState& t = proc.threads[child];
        t.vfork_child = true;
        resume_thread(t);
        return;
    }
    if (proc.follow_children && adopt_fork_child(proc, parent, child)) return;
    scrub_fork_child(proc, parent, child);
}

bool Engine::adopt_fork_child(ProcessState& proc, const ThreadState& parent, pid_t child) {
    // The child's memory is a copy of the parent's: the same breakpoints,
    // slot pages and trampoline at the same addresses, and its one thread
    // holds the forking thread's hijacked return addresses. So it gets a
    // copy of the parent's bookkeeping and carries on being probed.
    auto mem = ProcMem::open(child);
    if (!mem) {
        spdlog::warn("fork child {}: cannot open its memory ({}); letting it go",
                     child, mem.error().message);
        return false;
    }
    auto cp = std::make_unique<ProcessState>();
    ProcessState& c = *cp;
    c.pid = child;
    c.follow_children = true;
    c.followed_from = proc.pid;
    c.mem = std::make_unique<ProcMem>(std::move(*mem));
    c.breakpoints = std::make_unique<BreakpointTable>(*proc.breakpoints);
    c.slots = std::make_unique<SlotAllocator>(*proc.slots);
    c.entry_point = proc.entry_point;
    c.trampolines = proc.trampolines;
    c.sigtrap = proc.sigtrap.for_fork_child();
    c.sites = proc.sites;
    c.retired_sites = proc.retired_sites;
    c.retired_stubs = proc.retired_stubs;
    c.unwind_hooks_armed = proc.unwind_hooks_armed;
    c.unwind_hooks_retiring = proc.unwind_hooks_retiring; // its frames are copies
    c.unwind_hook_modules = proc.unwind_hook_modules;
    procs_[child] = std::move(cp);
    add_thread(c, child, false);
    ThreadState& t = c.threads[child];
    t.shadow = parent.shadow;
    t.unwinding = parent.unwinding;
    t.forced_unwind = parent.forced_unwind;
    t.walk_done_at = parent.walk_done_at;
    spdlog::info("fork child {} of pid {} followed with {} probe sites", child, proc.pid,
                 c.sites.size());
    resume_thread(t);
    return true;
}

void Engine::release_idle_followers() {
    // A followed child whose probes are all gone has nothing to report.
    std::vector<pid_t> idle;
    for (const auto& [pid, p] : procs_) {
        if (p->followed_from == 0) continue;
        bool live = false;
        for (const auto& [addr, site] : p->sites)
            for (uint64_t id : site.probe_ids) live |= probes_.count(id) != 0;
        if (!live) idle.push_back(pid);
    }
    for (pid_t pid : idle)
        if (auto r = detach(pid); !r) spdlog::warn("detach idle child {}: {}", pid, r.error().message);
}

void Engine::scrub_fork_child(ProcessState& proc, const ThreadState& parent, pid_t child) {
    int held_signal = 0; // for the program, arrived while the child signed for us
    scrub_fork_memory(proc, parent, child, held_signal);
    if (ptrace(PTRACE_DETACH, child, nullptr, static_cast<long>(held_signal)) != 0 &&
        errno != ESRCH)
        spdlog::warn("fork child {}: PTRACE_DETACH: {}", child, std::strerror(errno));
}

void Engine::scrub_fork_memory(ProcessState& proc, const ThreadState& parent, pid_t child,
                               int& held_signal) {
    auto mem = ProcMem::open(child);
    if (!mem) {
        spdlog::error("fork child {}: cannot open its memory: {}", child, mem.error().message);
        return;
    }
    // Its only thread is a copy of the forking one, hijacked frames and all.
    auto got = arch::host::get_regs(child);
    arch::host::Regs regs = got ? *got : arch::host::Regs{};
    const arch::host::Regs before = regs;
    const auto& frames = parent.shadow.frames();
    ProcessStackBounds stacks(child); // its mappings are the parent's at the fork
    auto spots = locate_returns(*mem, frames, regs, stacks, [&](const ShadowFrame& f) {
        return std::optional<uint64_t>(f.trampoline);
    });
    const uint64_t pac_mask = arch::host::pac_code_mask(child);
    for (const ReturnSpot& spot : spots)
        // A signed copy that reads as the plain address is signed below.
        if (copy_form_at(proc, frames[spot.frame], spot, before, pac_mask) == CopyForm::Plain)
            (void)write_return(*mem, regs, spot, frames[spot.frame].return_address);
    // Calls that hold a signed copy (pointer authentication): the child
    // signs the true address itself, with the keys it inherited from the
    // forking thread, in its own copy of the executable's entry point.
    SignedRelease released;
    {
        ReturnSigner signer({&*mem, proc.entry_point, child, &held_signal});
        released = release_signed_calls(
            signer, *mem, child, frames, regs, stacks,
            [&](const ShadowFrame& f) { return entry_signing_key(proc, f.site); },
            [&] { return link_state_at(proc, before); });
        counters_.signing_stub_runs += signer.runs();
        if (signer.lost_status()) {
            spdlog::warn("fork child {} exited while signing for it", child);
            return;
        }
    } // the signer puts the registers it found back: set ours after it
    if (got) (void)arch::host::set_changed_regs(child, before, regs);
    counters_.signed_in_fork_children += released.resigned;
    counters_.zero_code_link_registers += released.zero_code_in_register;
    // Those that failed the check may return through the child's copy of
    // our page, rewritten for them as at detach.
    const uint64_t trampoline = proc.trampolines.generic();
    const auto& left = released.left;
    if (!left.empty()) {
        uint64_t table_at = detached_table_in_page(trampoline, left.size());
        Result<void> w = make_error(ErrorKind::Internal, std::to_string(left.size()) +
                                                             " calls do not fit in the page");
        if (table_at != 0) w = write_detached_returns(*mem, trampoline, table_at, left);
        if (w) ++counters_.detached_fork_children;
        else
            spdlog::error("fork child {}: {} signed calls pending will trap: {}", child,
                          left.size(), w.error().message);
    }
    for (const auto& [addr, site] : proc.sites) {
        auto original = proc.breakpoints->original(addr);
        if (auto r = mem->write(addr, original); !r)
            spdlog::error("fork child {}: restoring {:#x}: {}", child, addr, r.error().message);
    }
    spdlog::debug("fork child {} of pid {} scrubbed", child, proc.pid);
}

} // namespace probed
