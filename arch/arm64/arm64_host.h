#pragma once
// The arm64 side of the engine's architecture interface (arch/host.h): the
// same names x86_host.h provides, built from the arm64 backend.
#include "arch/arm64/arm64_decoder.h"
#include "arch/arm64/arm64_detached_return.h"
#include "arch/arm64/arm64_dwarf_regs.h"
#include "arch/arm64/arm64_link_state.h"
#include "arch/arm64/arm64_machine.h"
#include "arch/arm64/arm64_ptrace.h"
#include "arch/arm64/arm64_regs.h"
#include "arch/arm64/arm64_return_signing.h"
#include "arch/arm64/arm64_slot_builder.h"
#include "arch/host_types.h"

#include <csignal>
#include <cstdint>
#include <span>
#include <vector>

namespace probed::arch::arm64 {

constexpr const char* kArchName = "aarch64";
// Every A64 instruction is one word.
constexpr size_t kMaxInsnBytes = kInsnSize;
// The classifier scans this much code before the site for an open
// LDXR...STXR window.
constexpr size_t kPrecedingCodeBytes = kExclusiveScanWords * kInsnSize;
// si_code of the SIGTRAP a brk raises.
constexpr int kBreakpointSiCode = TRAP_BRKPT;

// The top of user space with 48-bit virtual addresses (Linux's arm64
// default; PIE executables load at 0xaaaa'aaaa'0000, libraries near
// 0xffff'0000'0000).
constexpr uint64_t kHighestMapAddress = 0xfffffffff000;

inline uint64_t stack_pointer_of(const Regs& r) { return stack_pointer(r); }
inline void set_stack_pointer_of(Regs& r, uint64_t sp) { r.sp = sp; }
// `bytes` of memory below the stack pointer that the stopped thread's code
// does not use, 16-aligned: AAPCS64 has no red zone.
inline uint64_t scratch_below_stack(const Regs& r, uint64_t bytes) {
    return (stack_pointer(r) - bytes) & ~uint64_t{15};
}
inline uint64_t pc_of(const Regs& r) { return program_counter(r); }
inline void set_pc_of(Regs& r, uint64_t pc) { set_program_counter(r, pc); }

Result<DecodedInsn> decode_site(std::span<const uint8_t> code, uint64_t address,
                                std::span<const uint8_t> preceding);
// Instructions are words: the boundary at or after start + offset needs no
// decoding.
Result<uint64_t> boundary_at_or_after(std::span<const uint8_t> code, uint64_t start,
                                      uint64_t offset);

// A slot out of reach of its `b` back is stepped instead, so any slot works.
inline bool needs_near_slot(const DecodedInsn&) { return false; }
Result<Strategy> strategy_in_slot(const DecodedInsn& insn, uint64_t slot);
// Builds the slot for insn.strategy (as strategy_in_slot decided it).
Result<std::vector<uint8_t>> build_slot(const DecodedInsn& insn, uint64_t slot);

SimOutcome simulate_insn(const DecodedInsn& insn, Regs& regs, const WordReader& read);
SimOutcome fixup_step(const DecodedInsn& insn, uint64_t slot, Regs& regs);

// At a function's first instruction the return address is in x30: the
// hijack replaces it in the registers (no memory store) and the frame's key
// is sp. Only at the first instruction: see arm64_machine.h on pointer
// authentication.
Result<ReturnHijack> hijack_return(Regs& regs, const TrampolineFor& trampoline_for,
                                   const WordReader& read);
// No dedicated return trampolines: brk does not advance the PC, so the
// tracer sets it at every return stop anyway and a trampoline per return
// address would save nothing.
constexpr bool kDedicatedTrampolines = false;
// No entry stubs: the return address is in x30, which the entry stop reads
// with the other registers; there is no stack word to read and replace.
constexpr bool kEntryStubs = false;
constexpr size_t kEntryStubSize = 0;
inline bool entry_stub_can_run(const DecodedInsn&) { return false; }
inline Result<EntryStub> build_entry_stub(const DecodedInsn&, uint64_t, uint64_t, uint64_t) {
    return make_error(ErrorKind::Unsupported, "arm64 hijacks x30 at the entry stop");
}
inline EntryStubExit leave_entry_stub(const EntryStubLayout&, uint64_t) { return {}; }
inline Result<EntryStubExit> apply_entry_stub_exit(const EntryStubLayout&, Regs&, const WordReader&) {
    return make_error(ErrorKind::Unsupported, "arm64 has no entry stubs");
}
inline Result<std::vector<uint8_t>> dedicated_trampoline_bytes(uint64_t, uint64_t) {
    return make_error(ErrorKind::Unsupported, "arm64 returns through the one trampoline");
}
inline Result<uint64_t> return_address_at_entry(const Regs& regs, const WordReader&) {
    return return_address(regs);
}
// `ret` does not move sp: the trampoline sees the entry sp.
inline uint64_t entry_sp_at_return(const Regs& regs) {
    return entry_sp_from_return_sp(stack_pointer(regs));
}
// The hijacked x30 stays in x30 until the callee saves it (stp x29, x30 in
// its frame record, or any other spill), and the callee saves only into its
// own frame, which lies below entry_sp (the stack grows down; arm64 Linux has
// no red zone) and above the stack pointer of its newest call. That call is
// at or above the next newer shadow frame's entry sp, or, for the newest
// frame, the thread's current sp (which also covers a signal frame holding
// the interrupted x30). Every call it makes rewrites x30, so only the newest
// frame's value can still be in the register. A tail call leaves its frame
// to the callee at the same entry sp, so the value stays in the same range.
// Frames further out have disjoint ranges, so no other frame's value is
// mistaken for this one's.
inline ReturnSearch return_search(uint64_t entry_sp, uint64_t newer_bound, bool newest) {
    return {newer_bound, entry_sp, newest};
}
inline uint64_t link_register(const Regs& regs) { return return_address(regs); }
inline void set_link_register(Regs& regs, uint64_t value) { set_return_address(regs, value); }
// At a function's first instruction the return address is in x30, which is
// where libdwfl's frame-pointer fallback looks first (it treats the newest
// frame as a leaf that has not stored its frame record yet).
constexpr bool kFramePointerFallbackHandlesEntry = true;
// libdwfl's frame-pointer fallback takes the new PC from x30 and loads the
// frame record's saved x30 into it: a return address is read one step
// before it becomes a PC.
constexpr bool kFramePointerFallbackReadsAhead = true;
// The bits pointer authentication sets in a signed code address (0 without
// FEAT_PAuth, or when the tracee is gone).
inline uint64_t pac_code_mask(pid_t tid) {
    auto m = get_pac_code_mask(tid);
    return m ? *m : 0;
}
// A callee signing the hijacked x30 (pointer authentication) keeps a copy
// that a detach has the tracee re-sign; one that fails the check gets a
// return path of its own, left in the trampoline's page
// (arm64_detached_return.h).
constexpr bool kDetachedReturnsNeeded = true;
// detached_return_stub, detached_return_table and
// detached_table_after_stub come from arm64_detached_return.h.
// While the program's unwinder walks, the tracee signs the true return
// address for such a copy: kEntrySigningBytes, return_signing_key, the
// stub (sign_stub_bytes, sign_stub_done_pc), its table (kSignTableMaxPairs,
// sign_table_bytes, signed_table_values, sign_table_address) and runs
// (prepare_sign_table, prepare_sign_one, signed_one) come from
// arm64_return_signing.h.
// A hijacked x30 that reads as the plain trampoline address (its
// authentication code may be 0) is judged by the code ahead:
// link_register_state comes from arm64_link_state.h.
// The caller's registers as `ret` at a function's first instruction would
// leave them: the PC is the return address, sp does not move.
inline void return_at_entry(Regs& regs, uint64_t return_address) {
    set_program_counter(regs, return_address);
}

} // namespace probed::arch::arm64
