// The hit path: an entry breakpoint, the return trampoline, the end of a
// single-step. Every syscall here costs the traced program time, so each hit
// does one GETREGS, the memory I/O it must, and sets only what changed.
#include "daemon/engine.h"

#include "common/monotonic_clock.h"
#include "arch/x86_64/x86_machine.h"
#include "arch/x86_64/x86_ptrace.h"
#include "arch/x86_64/x86_simulator.h"
#include "arch/x86_64/x86_slot_builder.h"

#include <spdlog/spdlog.h>
#include <sys/ptrace.h>

#include <csignal>
#include <cstring>
#include <ctime>

namespace probed {

namespace x86 = arch::x86;

namespace {

// How far a longjmp can unwind: a thread's stack is at most this big (8 MiB
// by default), while a sigaltstack normally lives much further away.
constexpr uint64_t kStackSpan = 16ull << 20;

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

} // namespace

void Engine::on_entry_hit(ProcessState& proc, ThreadState& t, ProbeSite& site, x86::Regs& regs) {
    const x86::Regs trapped = regs;
    uint64_t ts = monotonic_ns();
    regs.rip = site.address;
    if (t.reenter_site != 0) {
        if (t.reenter_site == site.address && t.reenter_sp == regs.rsp) {
            // Back from the signal handler that interrupted this hit: its
            // entry was reported then; only the instruction is left to run.
            t.reenter_site = 0;
            run_displaced(proc, t, site, trapped, regs, PendingWrites{});
            return;
        }
        // Any later stop on the same stack at or above that point means the
        // handler left by other means (longjmp).
        if (regs.rsp >= t.reenter_sp && regs.rsp - t.reenter_sp < kStackSpan) t.reenter_site = 0;
    }
    if (site.hook != UnwindHook::None) on_unwind_hook(proc, t, site, regs);

    ShadowFrame frame;
    frame.ts_ns = ts;
    frame.site = site.address;
    frame.nargs = static_cast<uint8_t>(site.max_args);
    for (int i = 0; i < site.max_args; ++i) frame.args[i] = x86::int_arg(regs, i);
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
    if (!t.shadow.empty()) {
        std::vector<ShadowFrame> dead;
        t.shadow.pop_dead(x86::return_address_slot(regs), kStackSpan, dead);
        for (const auto& f : dead) report_return(proc, t, f, abandoned_exit(t), nullptr, ts);
    }
    if (site.any_return) {
        uint64_t slot = x86::return_address_slot(regs);
        auto ret = proc.mem->read_word(slot);
        if (ret) {
            frame.return_address = *ret;
            frame.entry_sp = slot;
            t.shadow.push(frame);
            SPDLOG_TRACE("tid {}: hijacked return to {:#x} at {:#x}, depth {}", t.tid,
                         frame.return_address, slot, t.shadow.size());
            writes.add({slot, proc.trampoline});
        } else {
            spdlog::warn("tid {}: cannot read return address at {:#x}: {}", t.tid, slot,
                         ret.error().message);
        }
    }

    run_displaced(proc, t, site, trapped, regs, writes);
}

void Engine::run_displaced(ProcessState& proc, ThreadState& t, const ProbeSite& site,
                           const x86::Regs& trapped, x86::Regs& regs, PendingWrites writes) {
    switch (site.insn.strategy) {
    case arch::Strategy::Simulate: {
        x86::SimResult r = x86::simulate(site.insn, regs);
        if (r.write) writes.add(*r.write);
        break;
    }
    case arch::Strategy::Boosted:
        regs.rip = site.slot;
        break;
    case arch::Strategy::Stepped:
        regs.rip = site.slot;
        t.run = ThreadState::Run::Stepping;
        t.step_site = site.address;
        t.step_slot = site.slot;
        break;
    case arch::Strategy::Reject:
        break; // never armed
    }

    if (auto r = writes.flush(*proc.mem); !r) {
        spdlog::warn("tid {}: hit at {:#x}: {}", t.tid, site.address, r.error().message);
        if (r.error().kind == ErrorKind::ProcessGone) return;
    }
    if (!x86::set_changed_regs(t.tid, trapped, regs)) return; // the thread died; its exit is reported next
    if (t.run == ThreadState::Run::Stepping) {
        t.step_insn = site.insn;
        ++counters_.steps;
    }
    resume_thread(t);
}

void Engine::report_return(ProcessState& proc, ThreadState& t, const ShadowFrame& f,
                           std::optional<ExitKind> exit, const x86::Regs* regs, uint64_t now) {
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
        if (regs && !exit && info.capture.retval) ev.retval = x86::return_value(*regs);
        if (regs && !exit && info.capture.float_retval) {
            if (!fret) {
                auto d = x86::get_float_return(t.tid);
                if (d) fret = *d;
            }
            ev.float_retval = fret;
        }
        emit(std::move(ev));
    }
}

void Engine::on_return_hit(ProcessState& proc, ThreadState& t, x86::Regs& regs) {
    uint64_t now = monotonic_ns();
    uint64_t entry_sp = x86::entry_sp_from_return_sp(regs.rsp);
    std::vector<ShadowFrame> abandoned;
    auto frame = t.shadow.pop_returning(entry_sp, abandoned);
    if (!frame) {
        // No frame for this stack pointer: `ret imm16` popped extra bytes, or
        // the stack was switched. Return through the most recent frame.
        if (t.shadow.empty()) {
            spdlog::error("tid {}: reached the return trampoline with no shadow frame (sp {:#x})",
                          t.tid, regs.rsp);
            resume_thread(t, SIGTRAP);
            return;
        }
        spdlog::warn("tid {}: no shadow frame for sp {:#x}; using the newest", t.tid, regs.rsp);
        auto all = t.shadow.take_all();
        frame = all.back();
        all.pop_back();
        for (const auto& f : all) t.shadow.push(f);
    }
    for (const auto& f : abandoned) report_return(proc, t, f, abandoned_exit(t), nullptr, now);
    report_return(proc, t, *frame, std::nullopt, &regs, now);
    if (!x86::set_pc(t.tid, frame->return_address)) return;
    resume_thread(t);
}

void Engine::on_step_done(ProcessState& proc, ThreadState& t) {
    t.run = ThreadState::Run::Running;
    auto regs = x86::get_regs(t.tid);
    if (!regs) return;
    const x86::Regs stepped = *regs;
    x86::SimResult r = x86::fixup_after_step(t.step_insn, t.step_slot, *regs);
    if (r.write) {
        if (auto w = proc.mem->write_word(r.write->address, r.write->value); !w) return;
    }
    if (!x86::set_changed_regs(t.tid, stepped, *regs)) return;
    resume_thread(t);
}

void Engine::leave_slot_for_signal(ProcessState& proc, ThreadState& t, x86::Regs& regs) {
    // A handler must never see (or return into) our page: it may inspect
    // the interrupted PC (profilers, crash handlers) and the program's
    // unwinder knows nothing of our slots.
    if (!proc.slots->owns(regs.rip)) return;
    for (const auto& [addr, site] : proc.sites) {
        if (site.slot == 0 || regs.rip < site.slot || regs.rip >= site.slot + x86::kSlotSize)
            continue;
        if (regs.rip == site.slot) {
            // Not run yet: run it when the handler returns to the original
            // address, where the breakpoint will be hit a second time.
            t.reenter_site = site.address;
            t.reenter_sp = regs.rsp;
            (void)x86::set_pc(t.tid, site.address);
        } else if (regs.rip == site.slot + site.insn.length &&
                   site.insn.strategy == arch::Strategy::Boosted) {
            // Run already; only the jump back was left.
            (void)x86::set_pc(t.tid, site.address + site.insn.length);
        }
        return;
    }
}

bool Engine::translate_fault_in_slot(ProcessState& proc, ThreadState& t, x86::Regs& regs) {
    // A fault raised by a displaced instruction must look like it happened
    // at the original address: handlers inspect the PC and may return to it.
    if (!proc.slots->owns(regs.rip)) return false;
    for (const auto& [addr, site] : proc.sites) {
        if (site.slot != 0 && regs.rip >= site.slot && regs.rip < site.slot + x86::kSlotSize) {
            (void)x86::set_pc(t.tid, site.address);
            return true;
        }
    }
    return false;
}

} // namespace probed
