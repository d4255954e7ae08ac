#pragma once
// Signing return addresses inside the tracee, for the program's unwinder.
//
// With pointer authentication a probed function's frame keeps a signed copy
// of our trampoline address T: the entry hit put T in x30 before the
// function's first instruction, and its paciasp (pacibsp with the B key)
// signed it with sp, then the entry sp, as the modifier (arm64_machine.h).
// While the program's unwinder walks the stack (a C++ exception, forced
// unwinding, backtrace()) that copy must hold the true return address R,
// signed exactly as the function would have signed it without us:
// - libgcc's unwinder (aarch64_demangle_return_addr, libgcc/config/aarch64/
//   aarch64-unwind.h) authenticates a saved return address whose frame's CFI
//   says it is signed (DW_CFA_AARCH64_negate_ra_state, emitted right after
//   paciasp) with autia1716, or autib1716 when the frame's CIE has the 'B'
//   augmentation (GCC's -mbranch-protection=pac-ret+b-key, whose prologue
//   uses pacibsp), and the frame's CFA as the modifier. An AArch64 frame's
//   CFA is the sp at its first instruction (`.cfi_def_cfa sp, 0` there), the
//   entry sp, which is also what paciasp saw.
// - a frame the unwinder leaves alive (backtrace(), a handler further out)
//   returns through its epilogue's autiasp, with sp back at the entry sp.
// So R is signed with the key of the function's prologue and the entry sp.
// The key is the CPU's and never leaves it: the tracee signs for us, in
// the stub: pacia1716/pacib1716 sign x17 with x16 as the modifier. They are
// hint-space instructions, NOPs on a CPU without FEAT_PAuth (where the stub
// returns its inputs unchanged), which the sp forms are too.
//
// Each frame needs two values signed with one key and modifier: R and T
// again. The signed T must equal the copy found, bit for bit, before the
// signed R is written in its place: proof that key and modifier are the
// function's.
//
// One run signs many: an exception through D probed frames needs 2D values
// signed at each unwinder entry, and a run (a resume and a stop) costs
// 10-20 us natively, ~0.5 ms emulated, where the signing itself costs
// nothing. The stub is written over the executable's entry point, whose
// dead bytes (_start) are few, so it is a loop over a table of {modifier,
// value} pairs, each value replaced by itself signed, not code unrolled per
// frame. The table goes below the thread's stack pointer: AAPCS64 has no
// red zone, so that memory is dead while the thread is stopped (the kernel
// puts signal frames there, several KiB, at any time). The same stub signs
// one value held in registers, for a thread with no room below its sp.
#include "arch/arm64/arm64_regs.h"
#include "arch/host_types.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace probed::arch::arm64 {

// How much of a function's code return_signing_key looks at.
constexpr size_t kEntrySigningBytes = 8;

// The key a function starting with `entry_code` (its first instructions, our
// breakpoints hidden) signs its return address with: paciasp is the A key,
// pacibsp the B key, first or after a `bti c`/`bti jc` landing pad (GCC
// emits paciasp first for -mbranch-protection=standard, pacibsp for
// +b-key). nullopt when neither comes there: no pointer authentication, or
// a prologue scheduled later (GCC moves a leaf's paciasp down).
std::optional<PacKey> return_signing_key(std::span<const uint8_t> entry_code);

// The stub, 40 bytes, no larger than the single-frame one it replaces. A
// run ends on our brk at sign_stub_done_pc, whichever way it was started.
std::vector<uint8_t> sign_stub_bytes();
uint64_t sign_stub_done_pc(uint64_t stub);

// The table: one entry of kSignPairBytes per value, {modifier, value}.
constexpr size_t kSignPairBytes = 16;
// At most this many pairs per run: 2 KiB of dead stack, less than a signal
// frame takes.
constexpr size_t kSignTableMaxPairs = 128;
std::vector<uint8_t> sign_table_bytes(std::span<const PacSignInput> pairs);
// The values of a table the stub ran over, signed, in order.
std::vector<uint64_t> signed_table_values(std::span<const uint8_t> table);
// Where a table of `pairs` pairs goes for a thread with registers `regs`:
// right below its stack pointer, 16-byte aligned.
uint64_t sign_table_address(const Regs& regs, size_t pairs);
// Sets up `regs` to sign the `pairs` values of the table at `table` with `key`.
void prepare_sign_table(Regs& regs, uint64_t stub, PacKey key, uint64_t table, size_t pairs);
// Sets up `regs` to sign `input`'s value with `key`, no memory touched; the
// value signed, once the run trapped.
void prepare_sign_one(Regs& regs, uint64_t stub, PacKey key, PacSignInput input);
uint64_t signed_one(const Regs& regs);

} // namespace probed::arch::arm64
