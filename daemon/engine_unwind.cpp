// Keeping the program's unwinder off our return trampoline (the mechanism
// is explained in unwind_hooks.h and docs/unwinding.md).
#include "daemon/engine.h"

#include "arch/host.h"
#include "common/monotonic_clock.h"
#include "daemon/proc_maps.h"
#include "daemon/process_maps.h"
#include "daemon/return_locator.h"
#include "daemon/return_signer.h"
#include "daemon/symbol_resolver.h"

#include <spdlog/spdlog.h>

#include <set>

namespace probed {

namespace host = arch::host;

void Engine::arm_unwind_hooks(ProcessState& proc) {
    // Also on a hit's path (the loader's hook): the thread is looked for
    // without letting a leader that left go (process_maps.h).
    std::vector<std::string> scanned;
    auto found = find_definitions(process_files_tid(proc), unwind_hook_names(),
                                  proc.unwind_hook_modules, scanned);
    proc.unwind_hook_modules.insert(scanned.begin(), scanned.end());
    if (!found) {
        spdlog::warn("pid {}: looking for unwinder entry points: {}", proc.pid,
                     found.error().message);
        return;
    }
    const pid_t pid = proc.pid;
    const uint64_t image = proc.image_generation;
    for (const FunctionDefinition& def : *found) {
        // Arming one stops a thread, which may end the process, or finish an
        // exec: the rest were found in the program that is gone then (the
        // new one gets its hooks with its first return probe). A thread
        // found gone may also have let the hooks retire: none is armed then.
        if (find_process(pid) != &proc || proc.image_generation != image ||
            !proc.unwind_hooks_armed)
            return;
        ResolvedTarget target;
        target.address = def.address;
        target.module = def.module;
        target.symbol = def.name;
        auto site = arm_site(proc, target, def.name);
        if (!site) {
            // Exceptions through probed frames in this module would end the
            // program, so say so loudly; everything else keeps working.
            spdlog::warn("pid {}: cannot hook {} in {}: {}", pid, def.name, def.module,
                         site.error().message);
            continue;
        }
        (*site)->hook = unwind_hook_for(def.name);
        spdlog::debug("pid {}: hooked {} at {:#x} in {}", proc.pid, def.name, def.address,
                      def.module);
    }
}

void Engine::restore_for_unwind(ProcessState& proc, ThreadState& t, host::Regs& regs) {
    auto& frames = t.shadow.frames_for_update();
    std::vector<bool> hijacked(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) hijacked[i] = frames[i].hijacked;
    // A frame whose trampoline is found nowhere is already gone from the stack.
    ProcessStackBounds stacks = process_stack_bounds(proc);
    auto spots = locate_returns(*proc.mem, frames, regs, stacks, [&](const ShadowFrame& f) {
        return f.hijacked ? std::optional<uint64_t>(f.trampoline) : std::nullopt;
    });
    const uint64_t pac_mask = host::pac_code_mask(t.tid);
    for (const ReturnSpot& spot : spots) {
        ShadowFrame& f = frames[spot.frame];
        // A signed copy that reads as the plain address is signed below.
        if (copy_form_at(proc, f, spot, regs, pac_mask) != CopyForm::Plain) continue;
        if (!write_return(*proc.mem, regs, spot, f.return_address)) continue;
        f.hijacked = false;
        t.unwind_restored.push_back({f.entry_sp, spot, f.return_address, f.trampoline});
    }
    // With pointer authentication the copies the callees saved are signed:
    // the tracee signs the true addresses for those.
    restore_signed_for_unwind(proc, t, regs, stacks, hijacked);
    SPDLOG_DEBUG("tid {}: {} return addresses put back for the unwinder ({} frames, sp {:#x})",
                 t.tid, t.unwind_restored.size(), frames.size(), host::stack_pointer_of(regs));
}

void Engine::rehijack_alive(ProcessState& proc, ThreadState& t, host::Regs& regs, uint64_t sp,
                            uint64_t now) {
    std::vector<ShadowFrame> dead;
    ProcessStackBounds stacks = process_stack_bounds(proc);
    t.shadow.pop_dead(sp, stacks, true, dead);
    for (const auto& f : dead) report_return(proc, t, f, ExitKind::Exception, nullptr, now);
    auto& frames = t.shadow.frames_for_update();
    for (ShadowFrame& f : frames) {
        if (f.hijacked) continue;
        for (const RestoredReturn& r : t.unwind_restored) {
            if (r.entry_sp != f.entry_sp) continue;
            // A signed copy gets its own signed trampoline address back, the
            // word the function's epilogue authenticates as before.
            if (read_return(*proc.mem, regs, r.spot) == r.restored &&
                write_return(*proc.mem, regs, r.spot, r.hijacked))
                f.hijacked = true;
        }
    }
    t.unwind_restored.clear();
    for (size_t i = 0; i < frames.size();) {
        if (frames[i].hijacked) {
            ++i;
            continue;
        }
        // The return address is found nowhere, so the frame is gone
        // (unwound on another path we did not see end).
        ShadowFrame gone = t.shadow.remove(i);
        report_return(proc, t, gone, ExitKind::Exception, nullptr, now);
    }
}

bool Engine::on_unwind_hook(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                            host::Regs& regs) {
    // Arming a site stops threads, which may end the process or finish
    // another thread's exec; the loader's hook also forgets hooks.
    const pid_t pid = proc.pid;
    const uint64_t image = proc.image_generation;
    const uint64_t at = site.address;
    const auto process_stands = [&] {
        return find_process(pid) == &proc && proc.image_generation == image;
    };
    switch (site.hook) {
    case UnwindHook::None:
        return true;
    case UnwindHook::Unwind:
    case UnwindHook::ForcedUnwind:
        // Every unwinder entry (a throw, each _Unwind_Resume after a cleanup,
        // a rethrow) re-reads the stack from its caller up, so each one finds
        // the true return addresses.
        // Frames below this call's return-address slot were already unwound
        // (by the walk that ran the cleanup now calling _Unwind_Resume).
        t.unwinding = true;
        t.forced_unwind |= site.hook == UnwindHook::ForcedUnwind;
        if (!t.shadow.empty()) {
            std::vector<ShadowFrame> dead;
            ProcessStackBounds stacks = process_stack_bounds(proc);
            t.shadow.pop_dead(host::stack_pointer_of(regs), stacks, true, dead);
            for (const auto& f : dead)
                report_return(proc, t, f, ExitKind::Exception, nullptr, monotonic_ns());
            restore_for_unwind(proc, t, regs);
        }
        return true;
    case UnwindHook::Catch:
        // The handler runs in the frame that caught: everything below this
        // call's return-address slot was unwound by the exception.
        if (!t.unwinding && t.shadow.empty()) return true;
        rehijack_alive(proc, t, regs, host::stack_pointer_of(regs), monotonic_ns());
        t.unwinding = t.forced_unwind = false;
        return true;
    case UnwindHook::Backtrace: {
        if (t.shadow.empty()) return true;
        // The walk starts from its own return address, so that one cannot be
        // hijacked to learn when it ends: a temporary breakpoint at the
        // return address does it instead. The thread is held while the site
        // is armed (its slot may need a page mapped).
        auto ret = host::return_address_at_entry(regs, [&](uint64_t address, unsigned) {
            return proc.mem->read_word(address);
        });
        if (!ret) return true;
        auto run = t.run;
        t.run = ThreadState::Run::Stopped;
        ResolvedTarget target;
        target.address = *ret;
        auto done = arm_site(proc, target, "the return from _Unwind_Backtrace");
        if (!process_stands()) return false;
        t.run = run;
        if (proc.sites.count(at) == 0) return false;
        if (!done) {
            spdlog::warn("tid {}: backtrace() will see our trampoline: {}", t.tid,
                         done.error().message);
            return true;
        }
        if ((*done)->hook == UnwindHook::None) (*done)->hook = UnwindHook::WalkDone;
        if ((*done)->hook != UnwindHook::WalkDone) return true; // an unwinder hook sits there
        t.walk_done_at = *ret;
        restore_for_unwind(proc, t, regs);
        return true;
    }
    case UnwindHook::WalkDone: {
        if (t.walk_done_at != site.address) return true; // another thread passing by
        t.walk_done_at = 0;
        // Frames at or below the slot _Unwind_Backtrace returned from are gone.
        rehijack_alive(proc, t, regs, host::entry_sp_at_return(regs), monotonic_ns());
        bool awaited = false;
        for (const auto& [tid, other] : proc.threads) awaited |= other.walk_done_at == site.address;
        if (!awaited) proc.sites_to_drop.push_back(site.address);
        return true;
    }
    case UnwindHook::LibraryLoad: {
        // Forget the hooks of modules unloaded since the last call (the
        // loader calls this after a dlclose unmapped them), then arm hooks in
        // new modules before the thread runs on: the next thing it does may
        // be to unwind. It is held while pages may be mapped.
        if (auto maps = read_process_maps(proc)) forget_unmapped_hooks(proc, *maps);
        auto run = t.run;
        t.run = ThreadState::Run::Stopped;
        arm_unwind_hooks(proc);
        if (!process_stands()) return false;
        t.run = run;
        return proc.sites.count(at) != 0;
    }
    }
    return true;
}

void Engine::drop_finished_sites(ProcessState& proc) {
    for (uint64_t address : proc.sites_to_drop) {
        auto it = proc.sites.find(address);
        if (it == proc.sites.end() || it->second.hook != UnwindHook::WalkDone) continue;
        bool awaited = false;
        for (const auto& [tid, other] : proc.threads) awaited |= other.walk_done_at == address;
        if (awaited) continue;
        it->second.hook = UnwindHook::None;
        if (it->second.probe_ids.empty()) drop_site(proc, address);
    }
    proc.sites_to_drop.clear();
}

void Engine::retire_unwind_hooks(ProcessState& proc) {
    if (!proc.unwind_hooks_armed) return;
    for (const auto& [address, site] : proc.sites) {
        if (site.any_return) {
            proc.unwind_hooks_retiring = false;
            return;
        }
    }
    // A hijacked frame outlives its probe: its return address stays our
    // trampoline until it returns (or is proven gone), and an exception
    // thrown through it before then must find the hooks, or the program ends
    // in std::terminate. Putting the true addresses back at once instead
    // would stop every thread of the process for a probe's removal, while
    // such frames end soon in practice, each end trying again here. A frame
    // that never ends (a thread parked in a probed function for good) keeps
    // the hooks until detach.
    for (const auto& [tid, t] : proc.threads) {
        if (!t.shadow.empty() || t.walk_done_at != 0 || !t.unwind_restored.empty()) {
            proc.unwind_hooks_retiring = true;
            return;
        }
    }
    std::vector<uint64_t> hooked;
    for (const auto& [address, site] : proc.sites)
        if (site.hook != UnwindHook::None) hooked.push_back(address);
    for (uint64_t address : hooked) {
        ProbeSite& site = proc.sites.at(address);
        site.hook = UnwindHook::None;
        if (site.probe_ids.empty()) drop_site(proc, address); // else a user's probe stays
    }
    // No frame is left for an unwind in progress to concern.
    for (auto& [tid, t] : proc.threads) t.unwinding = t.forced_unwind = false;
    proc.sites_to_drop.clear();
    proc.unwind_hook_modules.clear();
    proc.unwind_hooks_armed = proc.unwind_hooks_retiring = false;
    spdlog::debug("pid {}: no return probe left: {} unwinder hooks removed", proc.pid,
                  hooked.size());
}

void Engine::forget_unmapped_hooks(ProcessState& proc, const std::vector<MapEntry>& maps) {
    std::set<std::string> loaded;
    for (const MappedFile& f : group_mapped_files(maps)) loaded.insert(f.path);
    std::erase_if(proc.unwind_hook_modules,
                  [&](const std::string& path) { return loaded.count(path) == 0; });
    std::vector<uint64_t> gone;
    for (const auto& [address, site] : proc.sites) {
        if (site.hook == UnwindHook::None) continue;
        const MapEntry* m = find_mapping(maps, address);
        if (!m || !m->executable()) gone.push_back(address);
    }
    for (uint64_t address : gone) {
        ProbeSite& site = proc.sites.at(address);
        site.hook = UnwindHook::None;
        for (auto& [tid, t] : proc.threads)
            if (t.walk_done_at == address) t.walk_done_at = 0;
        // A user's probe there is the probe's business; a hook alone goes
        // without a write: the bytes we saved belong to code that is gone,
        // and whatever is mapped there next is not ours to change.
        if (site.probe_ids.empty()) drop_site(proc, address, SiteMemory::Unmapped);
    }
    if (!gone.empty())
        spdlog::debug("pid {}: {} unwinder hooks forgotten with their unloaded modules", proc.pid,
                      gone.size());
}

} // namespace probed
