// Entry stubs (docs/hit_cost.md): code in our page that replaces a call's
// return address in the tracee, so an entry stop reads no stack word and
// writes none. A stub serves the return address of the call that made it;
// a call from elsewhere stops on the stub's miss trap and is hijacked here
// as it would be without a stub.
#include "daemon/engine.h"

#include "arch/host.h"

#include <spdlog/spdlog.h>

namespace probed {

namespace host = arch::host;

bool Engine::stub_serves(const ProbeSite& site) const {
    return site.stub && site.stub->active;
}

void Engine::make_entry_stub(ProcessState& proc, ProbeSite& site, const ShadowFrame& frame) {
    if (!host::kEntryStubs || site.stub || site.stub_refused) return;
    // Only where [sp] is the return address (a function's first
    // instruction), and not at the engine's own hooks, whose hits must
    // always reach the tracer.
    if (!site.function_entry || site.hook != UnwindHook::None ||
        !host::entry_stub_can_run(site.insn)) {
        site.stub_refused = true;
        return;
    }
    // This call got the generic trampoline (no room for a dedicated one):
    // a later call may fare better.
    if (!proc.trampolines.target_of(frame.trampoline)) return;
    site.stub_refused = true; // whatever happens below, one attempt per site
    const size_t slots = (host::kEntryStubSize + host::kSlotSize - 1) / host::kSlotSize;
    // Near the site: the displaced instruction may address memory relative
    // to itself. A page we have already; mapping one is not a hit's business.
    auto run = proc.slots->allocate_run(slots, site.address, host::kNearDistance);
    if (!run) return;
    auto stub = host::build_entry_stub(site.insn, *run, frame.return_address, frame.trampoline);
    if (stub && proc.mem->write(*run, stub->code)) {
        site.stub = ProbeSite::Stub{stub->layout, frame.return_address, frame.trampoline, *run};
        site.stub_refused = false;
        spdlog::debug("pid {}: entry stub at {:#x} for {:#x} returning to {:#x}", proc.pid, *run,
                      site.address, frame.return_address);
        return;
    }
    for (size_t k = 0; k < slots; ++k) proc.slots->release(*run + k * host::kSlotSize, {});
}

// Sites dropped while a thread may still run their stub stay in
// proc.retired_stubs, so that thread's miss trap or signal is still ours.
ProbeSite* Engine::site_of_stub_trap(ProcessState& proc, uint64_t bp) {
    return find_stub_site(proc, [bp](const ProbeSite::Stub& s) { return s.layout.miss_trap == bp; });
}

ProbeSite* Engine::site_of_stub_holding(ProcessState& proc, uint64_t pc) {
    return find_stub_site(proc, [pc](const ProbeSite::Stub& s) { return stub_holds(s, pc); });
}

void Engine::on_stub_miss(ProcessState& proc, ThreadState& t, ProbeSite& site, host::Regs& regs) {
    ProbeSite::Stub& stub = *site.stub;
    ++stub.misses;
    ++counters_.stub_misses;
    const bool retired = !proc.sites.count(site.address) || &proc.sites.at(site.address) != &site;
    if (stub.misses >= kEntryStubMissesBeforeJudging && stub.misses * 2 > stub.entries && stub.active) {
        stub.active = false;
        spdlog::debug("pid {}: entry stub of {:#x} missed {} of {} calls: no longer used",
                      proc.pid, site.address, stub.misses, stub.entries);
    }
    // The stub put everything back but the PC: the thread is as it was at
    // the call, and the entry hit pushed this call's frame expecting the
    // stub's return address.
    const host::Regs trapped = regs;
    const uint64_t sp = host::stack_pointer_of(regs);
    ShadowFrame* frame = t.shadow.newest_call(site.address, sp);
    const bool have_frame = frame != nullptr;
    bool hijacked = false;
    if (have_frame && !retired) { // a retired site's probes are gone: the call goes on unprobed
        ShadowFrame& f = *frame;
        auto hijack = host::hijack_return(
            regs, [&](uint64_t found) { return hijack_return_to(proc, t, f, found, sp, {}); },
            reader_for(*proc.mem));
        hijacked = hijack && hijack->store &&
                   proc.mem->write_word(hijack->store->address, hijack->store->value);
        if (!hijacked) spdlog::warn("tid {}: cannot hijack the return of the call at {:#x}", t.tid, site.address);
    } else if (!have_frame) {
        spdlog::warn("tid {}: entry stub of {:#x} missed with no frame for sp {:#x}", t.tid,
                     site.address, sp);
    }
    if (have_frame && !hijacked) t.shadow.pop_newest();
    host::set_pc_of(regs, stub.layout.displaced);
    if (!host::set_changed_regs(t.tid, trapped, regs)) return;
    resume_thread(t);
}

bool Engine::leave_entry_stub(ProcessState& proc, ThreadState& t, host::Regs& regs) {
    ProbeSite* site = site_of_stub_holding(proc, host::pc_of(regs));
    if (!site) return false;
    const host::Regs before = regs;
    auto exit = host::apply_entry_stub_exit(site->stub->layout, regs, reader_for(*proc.mem));
    if (!exit) {
        spdlog::warn("tid {}: leaving the entry stub of {:#x}: {}", t.tid, site->address,
                     exit.error().message);
        return true;
    }
    using Resume = arch::EntryStubExit::Resume;
    if (exit->resume == Resume::After) {
        host::set_pc_of(regs, site->address + site->insn.length);
    } else {
        // Back at the call's first instruction. If the breakpoint is still
        // there when the thread gets back to it, the hit is not reported
        // again: the stub goes on where it stopped (start, or the displaced
        // instruction once the return address was replaced).
        host::set_pc_of(regs, site->address);
        const bool hijacked = exit->resume != Resume::Start;
        t.reentries.add({site->address, host::stack_pointer_of(regs),
                         hijacked ? site->stub->layout.displaced : site->stub->layout.start});
        // Before the stub's store the call's true return address is still
        // in place: its frame is not hijacked (yet), which is what a detach
        // or the unwinder hooks must know.
        if (ShadowFrame* f = t.shadow.newest_call(site->address, host::stack_pointer_of(regs)))
            f->hijacked = hijacked;
    }
    (void)host::set_changed_regs(t.tid, before, regs);
    return true;
}

void Engine::release_entry_stub(ProcessState& proc, ProbeSite& site,
                                const std::vector<pid_t>& live) {
    if (!site.stub) return;
    const size_t slots = (host::kEntryStubSize + host::kSlotSize - 1) / host::kSlotSize;
    for (size_t k = 0; k < slots; ++k)
        proc.slots->release(site.stub->slot_run + k * host::kSlotSize, live);
    // Its code stays until every live thread was seen outside it; a thread
    // still in it must find it (a miss trap, a signal) until then.
    site.stub->active = false;
    if (!live.empty()) proc.retired_stubs.push_back(site);
    site.stub.reset();
}

} // namespace probed
