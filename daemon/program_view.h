#pragma once
// A stopped thread's registers as the program would see them without us: a
// thread may be stopped inside one of our slots, on our return trampoline, or
// on a trap we have not handled yet. Stacks must show where the program is,
// never where our machinery put it.
#include "arch/host.h"
#include "daemon/tracee.h"

namespace probed {

struct ProgramView {
    arch::host::Regs regs{};
    // A stepped slot's fixup not yet done: words the program will see
    // written (an indirect call's return address) once we handle the step.
    arch::SimOutcome pending;
    // The PC was our trampoline and is now the true return address.
    bool pc_from_trampoline = false;
};

// `regs` as read from the stopped thread. `trap_pending`: the thread's stop
// is a SIGTRAP we have not handled yet (so a PC at or just past one of our
// breakpoints means it trapped there).
ProgramView program_view(const ProcessState& proc, const ThreadState& t,
                         const arch::host::Regs& regs, bool trap_pending);

} // namespace probed
