// Call stacks of traced threads: stack.get, and capture.stack at entry hits.
#include "daemon/engine.h"

#include "arch/host.h"
#include "daemon/process_maps.h"
#include "daemon/program_view.h"
#include "daemon/return_address_fixup.h"
#include "daemon/stack_unwinder.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>

namespace probed {

namespace host = arch::host;

namespace {

// Puts the bytes of a word the program is about to see written into a
// buffer read from `addr`.
void overlay(const arch::MemoryStore& w, uint64_t addr, std::span<uint8_t> buf) {
    uint8_t bytes[sizeof w.value];
    std::memcpy(bytes, &w.value, sizeof bytes);
    for (size_t i = 0; i < sizeof bytes; ++i) {
        uint64_t at = w.address + i;
        if (at >= addr && at - addr < buf.size()) buf[at - addr] = bytes[i];
    }
}

} // namespace

Result<StackTrace> Engine::unwind_view(ProcessState& proc, ThreadState& t, const ProgramView& view) {
    auto trace = unwind_with(proc, t, view, proc.proc_files_tid());
    if (trace) return trace;
    // The files the unwinder reads may have stopped showing the process (a
    // main thread that left, unnoticed yet): once more through a thread
    // whose files do, found without changing state, as on a hit's path
    // (capture.stack).
    const pid_t files = process_files_tid(proc);
    if (proc.unwinder && proc.unwinder->pid() == files) return trace;
    proc.unwinder.reset();
    return unwind_with(proc, t, view, files);
}

Result<StackTrace> Engine::unwind_with(ProcessState& proc, ThreadState& t,
                                       const ProgramView& view, pid_t files) {
    if (!proc.unwinder) {
        auto u = StackUnwinder::create(files);
        if (!u) return std::move(u).error();
        proc.unwinder = std::move(*u);
    }
    ReturnAddressFixup fixup(proc.trampolines, t.shadow, host::stack_pointer_of(view.regs),
                             host::pac_code_mask(t.tid));
    UnwindInput in;
    in.tid = t.tid;
    in.regs = view.regs;
    in.fixup = &fixup;
    in.read = [&proc, &view](uint64_t addr, std::span<uint8_t> out) -> Result<void> {
        PROBED_TRY(proc.mem->read(addr, out));
        proc.breakpoints->hide(addr, out);
        for (const auto& w : view.pending.pending()) overlay(w, addr, out);
        return {};
    };
    auto trace = proc.unwinder->unwind(in);
    if (trace && view.pc_from_trampoline && !trace->frames.empty())
        trace->frames[0].via_trampoline = true;
    return trace;
}

Result<StackTrace> Engine::stack(pid_t pid, std::optional<pid_t> tid) {
    ProcessState* proc = find_process(pid);
    if (!proc) return make_error(ErrorKind::NotFound, "pid " + std::to_string(pid) + " is not traced");
    notice_leader_left(*proc);
    // The main thread's, or any thread's once it has left.
    pid_t which = tid.value_or(proc->proc_files_tid());
    auto it = proc->threads.find(which);
    if (it == proc->threads.end())
        return make_error(ErrorKind::NotFound, "tid " + std::to_string(which) +
                                                   " is not a thread of traced pid " +
                                                   std::to_string(pid));
    ThreadState& t = it->second;
    // A running thread is held still for the unwind exactly as for an
    // injected syscall: whatever stop came before our interrupt (a hit, a
    // signal) is handled after we let go, so nothing is lost or reordered.
    bool hold = t.run != ThreadState::Run::Stopped;
    std::optional<WaitStatus> deferred;
    if (hold) {
        auto stopped = stop_thread(*proc, t);
        if (!stopped) return std::move(stopped).error();
        deferred = *stopped;
    }
    bool trap_pending = deferred && deferred->kind() == WaitStatus::Kind::SignalStop &&
                        deferred->signal() == SIGTRAP;
    Result<StackTrace> trace = make_error(ErrorKind::Internal, "no registers");
    if (auto regs = host::get_regs(which)) {
        trace = unwind_view(*proc, t, program_view(*proc, t, *regs, trap_pending));
    } else {
        trace = std::move(regs).error();
    }
    if (hold) release_thread(*proc, which, deferred);
    return trace;
}

std::shared_ptr<const StackTrace> Engine::capture_stack(ProcessState& proc, ThreadState& t,
                                                        const host::Regs& regs) {
    // At an entry hit the PC is already the probed address and nothing of
    // this call is hijacked yet: the registers are the program's own.
    ProgramView view;
    view.regs = regs;
    auto trace = unwind_view(proc, t, view);
    if (!trace) {
        spdlog::debug("tid {}: no stack at {:#x}: {}", t.tid, host::pc_of(regs),
                      trace.error().message);
        return nullptr;
    }
    return std::make_shared<const StackTrace>(std::move(*trace));
}

} // namespace probed
