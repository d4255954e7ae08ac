// The hit path: an entry breakpoint, the return trampoline, the end of a
// single-step. Every syscall here costs the traced program time, so each hit
// does one GETREGS, the memory I/O it must, and sets only what changed.
#include "daemon/engine.h"

#include "common/monotonic_clock.h"
#include "arch/host.h"
#include "daemon/proc_maps.h"
#include "daemon/process_maps.h"

#include <spdlog/spdlog.h>
#include <sys/ptrace.h>

#include <csignal>
#include <cstring>
#include <ctime>
#include <utility>

namespace probed {

namespace host = arch::host;

namespace {

// Dedicated return trampolines per process: one per call site of the probed
// functions that return there. Past this many (a hot function called from
// everywhere), further call sites use the generic trampoline, so slots stay
// free for probes.
constexpr size_t kMaxDedicatedTrampolines = 64;

CallEvent event_for(EventType type, uint64_t id, const ProbeInfo& info, pid_t pid, pid_t tid,
                    uint64_t site, uint64_t ts) {
    CallEvent ev;
    ev.type = type;
    ev.probe_id = id;
    ev.pid = pid;
    ev.tid = tid;
    ev.function = info.symbol.empty() ? info.target : info.symbol;
    ev.address = site;
    ev.ts_ns = ts;
    return ev;
}

// Whether anything is mapped at `address`: a refused store's si_code
// (SEGV_ACCERR, else SEGV_MAPERR). Only on a fault's path.
bool is_mapped(const ProcessState& proc, uint64_t address) {
    auto maps = read_process_maps(proc);
    return maps && find_mapping(*maps, address) != nullptr;
}

// The si_code a fault of this kind has when the CPU raises it.
int fault_code(int sig) {
    if (sig == SIGBUS) return BUS_ADRALN;
    return SEGV_MAPERR;
}

// The true return address of the frame a tail call at entry_sp took over:
// found dead at this very hit (its key is the callee's), or still on the
// shadow stack when the hit did not count as a call.
std::optional<uint64_t> tail_caller_return(const ThreadState& t,
                                           const std::vector<ShadowFrame>& dead,
                                           uint64_t entry_sp) {
    for (const ShadowFrame& f : dead)
        if (f.entry_sp == entry_sp) return f.return_address;
    if (auto r = t.shadow.return_address_for(entry_sp)) return r;
    spdlog::warn("tid {}: entered with our trampoline as return address and no frame at sp {:#x}",
                 t.tid, entry_sp);
    return std::nullopt;
}

} // namespace

arch::WordReader Engine::reader_for(ProcMem& mem) {
    return [&mem](uint64_t address, unsigned size) -> Result<uint64_t> {
        uint64_t value = 0;
        PROBED_TRY(mem.read(address, {reinterpret_cast<uint8_t*>(&value), size}));
        return value;
    };
}

void Engine::on_entry_hit(ProcessState& proc, ThreadState& t, ProbeSite& site, host::Regs& regs) {
    const host::Regs trapped = regs;
    uint64_t ts = monotonic_ns();
    host::set_pc_of(regs, site.address);
    const uint64_t sp = host::stack_pointer_of(regs);
    // Asked (and /proc/PID/maps read) only when a stop lies at or above a
    // pending frame or re-entry point: see pop_dead.
    ProcessStackBounds stacks = process_stack_bounds(proc);
    if (!t.reentries.empty()) {
        auto back = t.reentries.take(site.address, sp, stacks);
        if (back && resumes_interrupted_call(proc, t, site, regs)) {
            // Back from the signal handler that interrupted this hit: its
            // entry was reported then; only the instruction is left to run
            // (and, in an entry stub, perhaps the hijack).
            if (back->stub_pc != 0 && site.stub &&
                (back->stub_pc == site.stub->layout.start || back->stub_pc == site.stub->layout.displaced)) {
                // The stub will do (or did) the hijack.
                if (ShadowFrame* f = t.shadow.newest_call(site.address, sp)) f->hijacked = true;
                host::set_pc_of(regs, back->stub_pc);
                if (host::set_changed_regs(t.tid, trapped, regs)) resume_thread(t);
                return;
            }
            run_displaced(proc, t, site, trapped, regs, PendingWrites{});
            return;
        }
    }
    if (site.hook != UnwindHook::None) {
        const pid_t pid = proc.pid;
        const uint64_t image = proc.image_generation;
        if (!on_unwind_hook(proc, t, site, regs)) {
            // Only the site went: its instruction is the program's again.
            if (find_process(pid) == &proc && proc.image_generation == image &&
                host::set_changed_regs(t.tid, trapped, regs))
                resume_thread(t);
            return;
        }
    }

    ShadowFrame frame;
    frame.ts_ns = ts;
    frame.site = site.address;
    frame.nargs = static_cast<uint8_t>(site.max_args);
    for (int i = 0; i < site.max_args; ++i) frame.args[i] = host::int_arg(regs, i);
    if (site.any_stack) frame.stack = capture_stack(proc, t, regs);

    for (uint64_t id : site.probe_ids) {
        auto it = probes_.find(id);
        if (it == probes_.end()) continue;
        ProbeInfo& info = it->second.info;
        ++info.hits;
        if (!wants_entry_event(info.kind)) continue;
        CallEvent ev = event_for(EventType::Entry, id, info, proc.pid, t.tid, site.address, ts);
        ev.args.assign(frame.args.begin(), frame.args.begin() + info.capture.args);
        if (info.capture.stack) ev.stack = frame.stack;
        emit(std::move(ev));
    }

    PendingWrites writes;
    std::vector<ShadowFrame> dead;
    if (!t.shadow.empty()) {
        t.shadow.pop_dead(sp, stacks, site.function_entry, dead);
        for (const auto& f : dead) report_return(proc, t, f, abandoned_exit(t), nullptr, ts);
    }
    if (site.any_return && stub_serves(site)) {
        // The stub replaces the return address if the call returns where it
        // expects, and stops on its miss trap otherwise (on_stub_miss).
        frame.return_address = site.stub->ret;
        frame.trampoline = site.stub->trampoline;
        frame.entry_sp = sp;
        t.shadow.push(frame);
        ++site.stub->entries;
        ++counters_.stub_entries;
        host::set_pc_of(regs, site.stub->layout.start);
        if (host::set_changed_regs(t.tid, trapped, regs)) resume_thread(t);
        return;
    }
    if (site.any_return) {
        auto hijack = host::hijack_return(
            regs,
            [&](uint64_t found) { return hijack_return_to(proc, t, frame, found, sp, dead); },
            reader_for(*proc.mem));
        if (hijack) {
            frame.entry_sp = hijack->entry_sp;
            t.shadow.push(frame);
            SPDLOG_TRACE("tid {}: hijacked return to {:#x} at sp {:#x}, depth {}", t.tid,
                         frame.return_address, frame.entry_sp, t.shadow.size());
            if (hijack->store) writes.add(*hijack->store);
            make_entry_stub(proc, site, frame);
        } else {
            spdlog::warn("tid {}: cannot read the return address at sp {:#x}: {}", t.tid, sp,
                         hijack.error().message);
        }
    }

    run_displaced(proc, t, site, trapped, regs, writes);
}

bool Engine::resumes_interrupted_call(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                                      const host::Regs& regs) {
    // A handler that left by siglongjmp, then a new call of the function
    // from the same place: same site, same stack pointer. The return
    // address tells them apart where the interrupted call's was hijacked:
    // still our trampoline when the handler returns, the true one again
    // after a new call instruction. (Not hijacked yet, e.g. an entry stub
    // interrupted before its store: nothing tells, and it counts as the
    // interrupted call.)
    const ShadowFrame* f = t.shadow.newest_call(site.address, host::stack_pointer_of(regs));
    if (!f || !f->hijacked) return true;
    auto ret = host::return_address_at_entry(regs, reader_for(*proc.mem));
    return !ret || *ret == f->trampoline;
}

uint64_t Engine::hijack_return_to(ProcessState& proc, const ThreadState& t, ShadowFrame& frame,
                                  uint64_t found, uint64_t entry_sp,
                                  const std::vector<ShadowFrame>& dead) {
    // A tail call from a hijacked function (its epilogue, then `b` or `jmp`)
    // arrives with our trampoline as its return address, kept where the
    // caller's was: it returns where the caller would have. Resuming at the
    // trampoline instead would trap again with no frame left. A dedicated
    // trampoline says where that is; for the generic one it is the frame
    // the tail call took over.
    uint64_t ret = found;
    if (auto leads_to = proc.trampolines.target_of(found)) ret = *leads_to;
    else if (found == proc.trampolines.generic() && found != 0)
        ret = tail_caller_return(t, dead, entry_sp).value_or(found);
    frame.return_address = ret;
    frame.trampoline = trampoline_for_return(proc, ret);
    return frame.trampoline;
}

uint64_t Engine::trampoline_for_return(ProcessState& proc, uint64_t target) {
    uint64_t generic = proc.trampolines.generic();
    if (!host::kDedicatedTrampolines) return generic;
    uint64_t known = proc.trampolines.for_return(target);
    if (known != generic || proc.trampolines.dedicated_count() >= kMaxDedicatedTrampolines)
        return known;
    // A slot of a page we already have: mapping one costs a remote syscall,
    // which a hit does not pay for this.
    auto slot = proc.slots->allocate(0, ~0ull);
    if (!slot) return generic;
    auto code = host::dedicated_trampoline_bytes(*slot, target);
    if (!code || !proc.mem->write(*slot, *code)) {
        proc.slots->release(*slot, {});
        return generic;
    }
    proc.trampolines.add(target, *slot);
    SPDLOG_TRACE("pid {}: trampoline {:#x} returns to {:#x}", proc.pid, *slot, target);
    return *slot;
}

void Engine::run_displaced(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                           const host::Regs& trapped, host::Regs& regs, PendingWrites writes) {
    // The registers as the instruction found them (the return hijacked, on
    // arm64, already): what a fault it raises is delivered with.
    const host::Regs before = regs;
    switch (site.insn.strategy) {
    case arch::Strategy::Simulate: {
        arch::SimOutcome r = host::simulate_insn(site.insn, regs, reader_for(*proc.mem));
        if (r.fault_signal != 0) {
            deliver_fault(proc, t, site, trapped, before, writes, r.fault_signal,
                          fault_code(r.fault_signal), r.fault_address);
            return;
        }
        for (const arch::MemoryStore& store : r.pending()) writes.add_insn_store(store);
        break;
    }
    case arch::Strategy::Boosted:
        host::set_pc_of(regs, site.slot);
        break;
    case arch::Strategy::Stepped:
        host::set_pc_of(regs, site.slot);
        t.run = ThreadState::Run::Stepping;
        t.step_site = site.address;
        t.step_slot = site.slot;
        break;
    case arch::Strategy::Reject:
        break; // never armed
    }

    auto flushed = writes.flush(*proc.mem);
    if (!flushed) {
        spdlog::warn("tid {}: hit at {:#x}: {}", t.tid, site.address, flushed.error().message);
        if (flushed.error().kind == ErrorKind::ProcessGone) return;
    } else if (flushed->has_value()) {
        // The program may not write where the instruction stores (a push
        // into a stack's guard page): the CPU would fault, so it does.
        const uint64_t at = **flushed;
        deliver_fault(proc, t, site, trapped, before, PendingWrites{}, SIGSEGV,
                      is_mapped(proc, at) ? SEGV_ACCERR : SEGV_MAPERR, at);
        return;
    }
    if (!host::set_changed_regs(t.tid, trapped, regs)) return; // the thread died; its exit is reported next
    if (t.run == ThreadState::Run::Stepping) {
        t.step_insn = site.insn;
        ++counters_.steps;
    }
    resume_thread(t);
}

void Engine::deliver_fault(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                           const host::Regs& trapped, const host::Regs& at_insn,
                           PendingWrites ours, int signal, int code, uint64_t address) {
    // The displaced instruction faults where it stands (an unreadable
    // literal, a misaligned sp, a store the program's page rights refuse):
    // the program gets the signal the CPU would raise, at the probed
    // address, with the registers the instruction found. The call has
    // begun (its entry is reported, its return hijacked): a handler that
    // fixes the cause and returns comes back to it (a re-entry point), one
    // that leaves by siglongjmp leaves the call.
    if (auto w = ours.flush(*proc.mem); !w) {
        spdlog::warn("tid {}: hit at {:#x}: {}", t.tid, site.address, w.error().message);
        if (w.error().kind == ErrorKind::ProcessGone) return;
    }
    host::Regs regs = at_insn;
    host::set_pc_of(regs, site.address);
    if (!host::set_changed_regs(t.tid, trapped, regs)) return;
    t.reentries.add({site.address, host::stack_pointer_of(regs), 0});
    siginfo_t si{};
    si.si_signo = signal;
    si.si_code = code;
    si.si_addr = reinterpret_cast<void*>(address);
    if (ptrace(PTRACE_SETSIGINFO, t.tid, nullptr, &si) != 0)
        spdlog::warn("tid {}: PTRACE_SETSIGINFO: {}", t.tid, std::strerror(errno));
    spdlog::debug("tid {}: '{}' at {:#x} faults: signal {} at {:#x}", t.tid, site.insn.text,
                  site.address, signal, address);
    resume_thread(t, signal);
}

void Engine::report_return(ProcessState& proc, ThreadState& t, const ShadowFrame& f,
                           std::optional<ExitKind> exit, const host::Regs* regs, uint64_t now) {
    auto sit = proc.sites.find(f.site);
    if (sit == proc.sites.end()) return; // its probes were removed meanwhile
    std::optional<double> fret;
    for (uint64_t id : sit->second.probe_ids) {
        auto it = probes_.find(id);
        if (it == probes_.end() || !wants_return(it->second.info.kind)) continue;
        const ProbeInfo& info = it->second.info;
        CallEvent ev = event_for(EventType::Return, id, info, proc.pid, t.tid, f.site, f.ts_ns);
        ev.args.assign(f.args.begin(), f.args.begin() + std::min<int>(info.capture.args, f.nargs));
        ev.duration_ns = now - f.ts_ns;
        ev.exit = exit.value_or(ExitKind::Return);
        if (info.capture.stack) ev.stack = f.stack;
        if (regs && !exit && info.capture.retval) ev.retval = host::return_value(*regs);
        if (regs && !exit && info.capture.float_retval) {
            if (!fret) {
                auto d = host::get_float_return(t.tid);
                if (d) fret = *d;
            }
            ev.float_retval = fret;
        }
        emit(std::move(ev));
    }
}

void Engine::on_return_hit(ProcessState& proc, ThreadState& t, host::Regs& regs) {
    switch (complete_return(proc, t, regs)) {
    case ReturnOutcome::Resume: resume_thread(t); break;
    case ReturnOutcome::NoFrame: resume_thread(t, SIGTRAP); break;
    case ReturnOutcome::Gone: break; // its exit is reported next
    }
}

Engine::ReturnOutcome Engine::complete_return(ProcessState& proc, ThreadState& t, host::Regs& regs) {
    uint64_t now = monotonic_ns();
    uint64_t entry_sp = host::entry_sp_at_return(regs);
    std::vector<ShadowFrame> abandoned;
    auto frame = t.shadow.pop_returning(entry_sp, abandoned);
    if (!frame) {
        // No frame for this stack pointer: `ret imm16` popped extra bytes, or
        // the stack was switched. Return through the most recent frame.
        if (t.shadow.empty()) {
            spdlog::error("tid {}: reached the return trampoline with no shadow frame (sp {:#x})",
                          t.tid, host::stack_pointer_of(regs));
            return ReturnOutcome::NoFrame;
        }
        spdlog::warn("tid {}: no shadow frame for sp {:#x}; using the newest", t.tid,
                     host::stack_pointer_of(regs));
        auto all = t.shadow.take_all();
        frame = all.back();
        all.pop_back();
        for (const auto& f : all) t.shadow.push(f);
    }
    for (const auto& f : abandoned) report_return(proc, t, f, abandoned_exit(t), nullptr, now);
    report_return(proc, t, *frame, std::nullopt, &regs, now);
    // A dedicated trampoline that leads where this frame returns jumps
    // there by itself once the thread runs on from its trap.
    auto leads_to = proc.trampolines.target_of(host::breakpoint_address_from_pc(host::pc_of(regs)));
    if (leads_to && *leads_to == frame->return_address) return ReturnOutcome::Resume;
    const host::Regs trapped = regs;
    host::set_pc_of(regs, frame->return_address);
    if (!host::set_changed_regs(t.tid, trapped, regs)) return ReturnOutcome::Gone;
    return ReturnOutcome::Resume;
}

void Engine::on_step_done(ProcessState& proc, ThreadState& t) {
    t.run = ThreadState::Run::Running;
    auto regs = host::get_regs(t.tid);
    if (!regs) return;
    const host::Regs stepped = *regs;
    arch::SimOutcome r = host::fixup_step(t.step_insn, t.step_slot, *regs);
    for (const arch::MemoryStore& store : r.pending()) {
        if (auto w = proc.mem->write_word(store.address, store.value); !w) return;
    }
    if (!host::set_changed_regs(t.tid, stepped, *regs)) return;
    resume_thread(t);
}

void Engine::reenter_at_site(ThreadState& t, uint64_t site, uint64_t sp) {
    t.reentries.add({site, sp, 0});
    (void)host::set_pc(t.tid, site);
}

void Engine::leave_slot_for_signal(ProcessState& proc, ThreadState& t, host::Regs& regs) {
    // A handler must never see (or return into) our page: it may inspect
    // the interrupted PC (profilers, crash handlers) and the program's
    // unwinder knows nothing of our slots.
    const uint64_t pc = host::pc_of(regs);
    if (!proc.slots->owns(pc)) return;
    if (proc.trampolines.is_trampoline(pc)) {
        // `ret` landed on a trampoline and its trap has not run: finish the
        // return now, so the handler sees (and returns to) the true address.
        (void)complete_return(proc, t, regs);
        return;
    }
    if (auto dedicated = proc.trampolines.dedicated_holding(pc, host::kSlotSize)) {
        // Past its trap (the return is reported), before its jump: the
        // handler returns straight to where the trampoline leads.
        (void)host::set_pc(t.tid, *proc.trampolines.target_of(*dedicated));
        return;
    }
    if (leave_entry_stub(proc, t, regs)) return;
    for (const auto& [addr, site] : proc.sites) {
        if (site.slot == 0 || pc < site.slot || pc >= site.slot + host::kSlotSize) continue;
        if (pc == site.slot) {
            reenter_at_site(t, site.address, host::stack_pointer_of(regs));
        } else if (pc == site.slot + site.insn.length &&
                   site.insn.strategy == arch::Strategy::Boosted) {
            // Run already; only the jump back was left.
            (void)host::set_pc(t.tid, site.address + site.insn.length);
        }
        return;
    }
}

} // namespace probed
