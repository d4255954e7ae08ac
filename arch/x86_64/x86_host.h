#pragma once
// The x86_64 side of the engine's architecture interface (arch/host.h): the
// same names arm64_host.h provides, built from the x86_64 backend.
#include "arch/host_types.h"
#include "arch/x86_64/x86_decoder.h"
#include "arch/x86_64/x86_dwarf_regs.h"
#include "arch/x86_64/x86_entry_stub.h"
#include "arch/x86_64/x86_machine.h"
#include "arch/x86_64/x86_ptrace.h"
#include "arch/x86_64/x86_regs.h"
#include "arch/x86_64/x86_slot_builder.h"

#include <csignal>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace probed::arch::x86 {

constexpr const char* kArchName = "x86_64";
// Longest instruction: the bytes read at a probe site.
constexpr size_t kMaxInsnBytes = 16;
// Code before the site the classifier wants to see: none on x86_64.
constexpr size_t kPrecedingCodeBytes = 0;
// si_code of the SIGTRAP our breakpoint raises (int3 reports SI_KERNEL).
constexpr int kBreakpointSiCode = SI_KERNEL;

// The top of user space with 4-level paging (the last page below it).
constexpr uint64_t kHighestMapAddress = 0x7ffffffff000;

inline uint64_t stack_pointer_of(const Regs& r) { return stack_pointer(r); }
inline uint64_t pc_of(const Regs& r) { return program_counter(r); }
inline void set_pc_of(Regs& r, uint64_t pc) { set_program_counter(r, pc); }
inline void set_stack_pointer_of(Regs& r, uint64_t sp) { r.rsp = sp; }
// `bytes` of memory below the stack pointer that the stopped thread's code
// does not use, 16-aligned: below the System V ABI's 128-byte red zone.
inline uint64_t scratch_below_stack(const Regs& r, uint64_t bytes) {
    return (stack_pointer(r) - 128 - bytes) & ~uint64_t{15};
}

// The return trampoline: a breakpoint.
inline std::vector<uint8_t> trampoline_bytes() { return breakpoint_bytes(); }
// Dedicated return trampolines (daemon/return_trampolines.h): int3 leaves
// rip past itself, so a trampoline can trap and then jump on by itself.
constexpr bool kDedicatedTrampolines = true;
inline Result<std::vector<uint8_t>> dedicated_trampoline_bytes(uint64_t at, uint64_t target) {
    return build_return_trampoline(at, target);
}
// Entry stubs (x86_entry_stub.h): build_entry_stub, entry_stub_can_run,
// leave_entry_stub, kEntryStubSize.
constexpr bool kEntryStubs = true;
// Takes a thread stopped in an entry stub back to the program's own state
// (rax and the flags the stub saved loaded back, rsp as at the call) and
// says where it goes on from there.
Result<EntryStubExit> apply_entry_stub_exit(const EntryStubLayout& layout, Regs& regs,
                                            const WordReader& read);

// Decodes the instruction at a site; `preceding` is unused on x86_64.
Result<DecodedInsn> decode_site(std::span<const uint8_t> code, uint64_t address,
                                std::span<const uint8_t> preceding);
// `code` holds a function from `start`: the first instruction boundary at or
// after start + offset, found by decoding from the start.
Result<uint64_t> boundary_at_or_after(std::span<const uint8_t> code, uint64_t start,
                                      uint64_t offset);

// Whether the instruction needs its slot near it (a RIP-relative operand).
inline bool needs_near_slot(const DecodedInsn& insn) { return insn.disp_offset != 0; }
// How insn runs from a slot at `slot`, or why it cannot.
Result<Strategy> strategy_in_slot(const DecodedInsn& insn, uint64_t slot);
Result<std::vector<uint8_t>> build_slot(const DecodedInsn& insn, uint64_t slot);

SimOutcome simulate_insn(const DecodedInsn& insn, Regs& regs, const WordReader& read);
SimOutcome fixup_step(const DecodedInsn& insn, uint64_t slot, Regs& regs);

// At a function's first instruction the return address is the word at
// [rsp]: the hijack overwrites that word, and the frame's key is rsp.
Result<ReturnHijack> hijack_return(Regs& regs, const TrampolineFor& trampoline_for,
                                   const WordReader& read);
// The return address at a function's first instruction.
Result<uint64_t> return_address_at_entry(const Regs& regs, const WordReader& read);
// The key of the frame that just returned to the trampoline: `ret` popped
// the word at entry_sp, so sp is one word above it.
inline uint64_t entry_sp_at_return(const Regs& regs) {
    return entry_sp_from_return_sp(stack_pointer(regs));
}
// The hijacked word stays where it was written: at entry_sp, whatever the
// function did since. (newer_bound is for architectures that return through
// a register.)
inline ReturnSearch return_search(uint64_t entry_sp, uint64_t /*newer_bound*/, bool /*newest*/) {
    return {entry_sp, entry_sp + 8, false};
}
// No link register on x86_64: return_search never asks for it.
inline uint64_t link_register(const Regs&) { return 0; }
inline void set_link_register(Regs&, uint64_t) {}
// At a function's first instruction the frame pointer is still the
// caller's, so an unwinder without CFI (libdwfl's frame-pointer fallback)
// would skip the caller: the engine takes that first step itself.
constexpr bool kFramePointerFallbackHandlesEntry = false;
// libdwfl's frame-pointer fallback reads a frame's return address in the
// step that makes it the caller's PC ([rbp + 8]).
constexpr bool kFramePointerFallbackReadsAhead = false;
// No pointer authentication on x86_64.
inline uint64_t pac_code_mask(pid_t) { return 0; }
// Not needed on x86_64: a hijacked return address is a plain stack word,
// always found and put back at detach, so nothing stays behind. These exist
// only so the engine compiles the same on both hosts; it never calls them
// while kDetachedReturnsNeeded is false.
constexpr bool kDetachedReturnsNeeded = false;
constexpr uint64_t detached_table_after_stub(uint64_t stub) { return stub; }
inline std::vector<uint8_t> detached_return_stub(uint64_t, uint64_t) { return {}; }
inline std::vector<uint8_t> detached_return_table(std::span<const DetachedReturn>) { return {}; }
// Nothing is signed on x86_64 either: the engine never runs the signing
// stub (pac_code_mask is 0); these exist so it compiles the same.
constexpr size_t kEntrySigningBytes = 0;
inline std::optional<PacKey> return_signing_key(std::span<const uint8_t>) { return std::nullopt; }
inline std::vector<uint8_t> sign_stub_bytes() { return {}; }
inline uint64_t sign_stub_done_pc(uint64_t stub) { return stub; }
constexpr size_t kSignTableMaxPairs = 0;
inline std::vector<uint8_t> sign_table_bytes(std::span<const PacSignInput>) { return {}; }
inline std::vector<uint64_t> signed_table_values(std::span<const uint8_t>) { return {}; }
inline uint64_t sign_table_address(const Regs& regs, size_t) { return regs.rsp; }
inline void prepare_sign_table(Regs&, uint64_t, PacKey, uint64_t, size_t) {}
inline void prepare_sign_one(Regs&, uint64_t, PacKey, PacSignInput) {}
inline uint64_t signed_one(const Regs&) { return 0; }
inline LinkState link_register_state(uint64_t, const CodeWordReader&) { return LinkState::Unknown; }
// return_at_entry (x86_machine.h): the caller's registers as `ret` at a
// function's first instruction would leave them.

} // namespace probed::arch::x86
