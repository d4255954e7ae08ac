#pragma once
// Passive state the engine keeps for each traced process and thread.
#include "arch/host.h"
#include "daemon/breakpoint_table.h"
#include "daemon/probe.h"
#include "daemon/reentry_points.h"
#include "daemon/return_locator.h"
#include "daemon/return_trampolines.h"
#include "daemon/proc_mem.h"
#include "daemon/shadow_stack.h"
#include "daemon/sigtrap_disposition.h"
#include "daemon/slot_allocator.h"
#include "daemon/unwind_hooks.h"
#include "daemon/stack_unwinder.h"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace probed {

// A return address put back for the program's unwinder, and what to put
// back once it is done with the frame.
struct RestoredReturn {
    uint64_t entry_sp = 0; // the frame's key
    ReturnSpot spot;
    uint64_t restored = 0; // what we wrote: the true address (signed, if the copy was)
    uint64_t hijacked = 0; // what was there: the trampoline address (idem)
};

struct ThreadState {
    enum class Run {
        Running,   // resumed; a stop may arrive at any time
        Stepping,  // single-stepping a stepped slot of `step_site`
        Stopped,   // we hold it (group-stop listened threads count as Running)
    };
    pid_t tid = 0;
    Run run = Run::Running;
    uint64_t step_site = 0;
    uint64_t step_slot = 0;
    arch::host::DecodedInsn step_insn; // kept: the site may be removed mid-step
    int held_signal = 0;      // a signal that arrived mid-step, delivered after it
    // Signal handlers that will come back to a hit whose displaced
    // instruction had not run (daemon/reentry_points.h).
    ReentryPoints reentries;
    bool expect_interrupt = false; // a PTRACE_INTERRUPT we sent is still to be reported
    // A vfork child: it runs in its parent's memory (and so among our
    // breakpoints) until it execs or exits, so we trace it like a thread.
    bool vfork_child = false;
    // Inside the program's unwinder (from an UnwindHook::Unwind entry until
    // the catch): its hijacked return addresses are restored, and frames
    // that die meanwhile were ended by the exception, not by a longjmp.
    bool unwinding = false;
    bool forced_unwind = false; // ...and the unwind ends the thread
    uint64_t walk_done_at = 0;  // where its _Unwind_Backtrace returns (a WalkDone site)
    // Where the true return addresses were put back for the unwinder: the
    // only places the trampoline goes back to. (Looking for the true address
    // again could hit a copy the program made since: backtrace()'s array
    // holds every return address of the stack.)
    std::vector<RestoredReturn> unwind_restored;
    ShadowStack shadow;
};

// One breakpoint address and everything probing it.
struct ProbeSite {
    uint64_t address = 0;
    arch::host::DecodedInsn insn;
    uint64_t slot = 0; // 0 for simulated instructions
    std::vector<uint64_t> probe_ids;
    bool any_entry = false;  // cached from the probes, kept in sync on add/remove
    bool any_return = false;
    int max_args = 0;
    bool float_retval = false;
    UnwindHook hook = UnwindHook::None; // the engine's own use of this site
    bool any_stack = false; // some probe wants capture.stack
    // At a function's first instruction (a symbol at offset 0): a hit there
    // is a new call, whose return address lies at the stack pointer.
    bool function_entry = false;
    // The entry stub (arch::host::build_entry_stub; docs/hit_cost.md): made
    // by the first call that returns through a dedicated trampoline; later
    // calls returning to the same address are hijacked by the tracee itself.
    struct Stub {
        arch::EntryStubLayout layout;
        uint64_t ret = 0;        // the return address it serves
        uint64_t trampoline = 0; // what it stores in its place
        uint64_t slot_run = 0;   // its slots: kEntryStubSize / kSlotSize from here
        uint32_t entries = 0;    // calls sent through it
        uint32_t misses = 0;     // of those, returning elsewhere
        bool active = true;      // false once it missed too often
    };
    std::optional<Stub> stub;
    bool stub_refused = false; // cannot have one (instruction, room, misses)
};

struct ProbeRecord {
    ProbeInfo info;
};

struct ProcessState {
    pid_t pid = 0;
    bool spawned = false;        // we started it (we reap it and may kill it)
    bool held_at_entry = false;  // spawned, stopped before main until resume()
    std::unique_ptr<ProcMem> mem;
    std::unique_ptr<BreakpointTable> breakpoints;
    std::unique_ptr<SlotAllocator> slots;
    uint64_t entry_point = 0;    // AT_ENTRY: where injected syscalls run
    // Counts the execs seen: an address read from the image before one
    // belongs to a program that is gone.
    uint64_t image_generation = 0;
    // Return trampolines: the generic one (a breakpoint in our first page)
    // and the dedicated ones (slots; see return_trampolines.h).
    ReturnTrampolines trampolines;
    std::map<pid_t, ThreadState> threads;
    std::map<uint64_t, ProbeSite> sites;
    // Dropped sites whose entry stub a thread may still be running.
    std::vector<ProbeSite> retired_stubs;
    // Breakpoints removed while threads ran: a thread may already have
    // trapped on one, and its stop must be rewound, not passed to the program.
    std::set<uint64_t> retired_sites;
    // follow_children: fork children stay traced with the same probes, as
    // processes of their own (followed_from: the parent they came from).
    bool follow_children = false;
    pid_t followed_from = 0;
    // Probes waiting for the new image's libraries (a breakpoint at its
    // entry point): resolved again there after an exec.
    bool rearm_pending = false;
    // Unwinder hooks: armed while the process has a return probe; modules
    // already searched for them (a dlopen adds more, a dlclose takes its
    // own away). `unwind_hooks_retiring`: the last return probe is gone
    // but some thread still has hijacked frames that need the hooks; they
    // go when the last such frame does (retire_unwind_hooks).
    bool unwind_hooks_armed = false;
    bool unwind_hooks_retiring = false;
    std::set<std::string> unwind_hook_modules;
    // Temporary sites no longer needed, dropped once the hit using them is done.
    std::vector<uint64_t> sites_to_drop;
    std::optional<int> exit_status; // set once the whole process is gone
    std::unique_ptr<StackUnwinder> unwinder; // made on the first stack asked for
    SigtrapDisposition sigtrap; // the program's own, which our traps must not change
    // The main thread has left (pthread_exit) while other threads run on:
    // the leader is a zombie, untraced. It never stops for an interrupt, its
    // exit is reported only after every other thread's, and its /proc/PID
    // files show no memory, maps or auxv.
    bool leader_exited = false;
    // Whose /proc/TID files show the process: the leader's while it lives,
    // else any thread's.
    pid_t proc_files_tid() const {
        return leader_exited && !threads.empty() ? threads.begin()->first : pid;
    }
};

// The site, live or dropped while a thread may still run its entry stub,
// whose stub satisfies `pred`.
template <class Proc, class Pred>
auto find_stub_site(Proc& proc, Pred pred) -> decltype(&proc.retired_stubs.front()) {
    for (auto& [addr, site] : proc.sites)
        if (site.stub && pred(*site.stub)) return &site;
    for (auto& site : proc.retired_stubs)
        if (site.stub && pred(*site.stub)) return &site;
    return nullptr;
}

inline bool stub_holds(const ProbeSite::Stub& stub, uint64_t pc) {
    return pc >= stub.layout.start && pc < stub.layout.end;
}

} // namespace probed
