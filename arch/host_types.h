#pragma once
// The vocabulary shared by every backend's host adapter (x86_host.h,
// arm64_host.h): what the engine gets back from an architecture without
// learning its opcodes or register layout.
#include "common/result.h"

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace probed::arch {

// One 8-byte store to tracee memory that the engine must perform.
struct MemoryStore {
    uint64_t address = 0;
    uint64_t value = 0;
};

// Reads `size` (4 or 8) bytes of tracee memory, little-endian, zero-extended.
using WordReader = std::function<Result<uint64_t>(uint64_t address, unsigned size)>;
// The trampoline address to put in place of a return address, given it.
using TrampolineFor = std::function<uint64_t(uint64_t true_return)>;

// What running a displaced instruction in place (simulate) or fixing up after
// a single-step asks of the engine.
struct SimOutcome {
    std::array<MemoryStore, 2> stores{};
    uint8_t store_count = 0;
    // Nonzero when the instruction would fault in place: the registers are
    // as they were, and the engine delivers this signal as the CPU would.
    int fault_signal = 0;
    uint64_t fault_address = 0;

    std::span<const MemoryStore> pending() const { return {stores.data(), store_count}; }
    void add(MemoryStore s) { stores[store_count++] = s; }
};

// The return hijack done at a function's first instruction.
struct ReturnHijack {
    uint64_t true_return = 0; // the address the call returns to without us
    uint64_t entry_sp = 0;    // the frame's key in the shadow stack
    // Set when the hijack is a memory store (the return address lives on the
    // stack); unset when it only changed the registers.
    std::optional<MemoryStore> store;
};

// Where a hijacked return address (or the true one put back) may be found
// later, for a frame entered with stack pointer entry_sp: the words in
// [lo, hi), and the link register when `link_register` is set.
struct ReturnSearch {
    uint64_t lo = 0;
    uint64_t hi = 0;
    bool link_register = false;
};

// A call still pending at detach whose return we could not put back (a
// signed copy of the trampoline address, arm64 with pointer authentication):
// the return path left behind finds its true return address by its entry sp.
struct DetachedReturn {
    uint64_t entry_sp = 0;
    uint64_t return_address = 0;
};

// A pointer authentication key for instruction addresses (arm64 FEAT_PAuth:
// APIAKey, APIBKey), as a function's prologue chose it.
enum class PacKey : uint8_t { A, B };

// Two values the tracee signed with one key and modifier
// (arch/arm64/arm64_return_signing.h): a return address, and the check that
// proves key and modifier right.
struct SignedPair {
    uint64_t value = 0;
    uint64_t check = 0;
};

// A value for the tracee to sign with the modifier its function's prologue
// used (arch/arm64/arm64_return_signing.h): one entry of the stub's table.
struct PacSignInput {
    uint64_t modifier = 0;
    uint64_t value = 0;
};

// The form the link register's value is in at a PC, for the code ahead
// (arch/arm64/arm64_link_state.h): Signed if it authenticates the register
// before returning through it, Plain if it returns through it as it is.
enum class LinkState : uint8_t { Plain, Signed, Unknown };
// The 4 bytes of code at an address, as the program sees them (our
// breakpoints hidden); nullopt where nothing can be read.
using CodeWordReader = std::function<std::optional<std::array<uint8_t, 4>>(uint64_t address)>;

// Entry stubs (arch/x86_64/x86_entry_stub.h; docs/hit_cost.md): the
// tracee replaces a call's return address itself. Where things are in a
// stub built at `start`:
struct EntryStubLayout {
    uint64_t start = 0;
    uint64_t displaced = 0; // the displaced instruction: the hijack is done
    uint64_t after_displaced = 0; // the jump back: the instruction has run
    uint64_t miss = 0;      // restores what the stub saved, then the miss trap
    uint64_t miss_trap = 0; // the int3 a miss stops on
    uint64_t end = 0;
};

struct EntryStub {
    std::vector<uint8_t> code; // kEntryStubSize bytes at most
    EntryStubLayout layout;
};

// How to take a thread out of a stub it was stopped in (a signal, a
// detach): the state the program would be in, and where to go on.
struct EntryStubExit {
    enum class Resume {
        Start,     // the hijack has not happened: run the stub from its start
        Displaced, // the hijack is done, the displaced instruction has not run
        After,     // the displaced instruction has run: go to the next one
    };
    Resume resume = Resume::Start;
    // The saved scratch register (rax on x86_64) and flags to load back, as
    // offsets from the stack pointer; -1: none.
    int scratch_at = -1;
    int flags_at = -1;
    // Added to the stack pointer once those are loaded (the stub's own
    // pushes undone).
    uint64_t sp_add = 0;
};

} // namespace probed::arch
