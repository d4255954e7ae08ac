// Children of traced processes. A fork child gets a copy of the parent's
// memory, our breakpoints and hijacked return addresses included, and nobody
// to handle them: we scrub it and let it go before it runs. A vfork child
// shares the parent's memory, so it is traced like one of its threads until
// it execs or exits.
#include "daemon/engine.h"

#include "arch/host.h"
#include "daemon/return_locator.h"

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
        while (waitpid(child, &raw, __WALL) < 0) {
            if (errno != EINTR) {
                spdlog::warn("fork child {}: waitpid: {}", child, std::strerror(errno));
                return;
            }
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
    scrub_fork_child(proc, parent, child);
    if (ptrace(PTRACE_DETACH, child, nullptr, nullptr) != 0)
        spdlog::warn("fork child {}: PTRACE_DETACH: {}", child, std::strerror(errno));
}

void Engine::scrub_fork_child(ProcessState& proc, const ThreadState& parent, pid_t child) {
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
    auto spots = locate_returns(*mem, frames, regs, [&](const ShadowFrame&) {
        return std::optional<uint64_t>(proc.trampoline);
    });
    for (const ReturnSpot& spot : spots)
        (void)write_return(*mem, regs, spot, frames[spot.frame].return_address);
    if (got) (void)arch::host::set_changed_regs(child, before, regs);
    for (const auto& [addr, site] : proc.sites) {
        auto original = proc.breakpoints->original(addr);
        if (auto r = mem->write(addr, original); !r)
            spdlog::error("fork child {}: restoring {:#x}: {}", child, addr, r.error().message);
    }
    spdlog::debug("fork child {} of pid {} scrubbed and released", child, proc.pid);
}

} // namespace probed
