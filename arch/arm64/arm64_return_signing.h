#pragma once
// Signing a return address inside the tracee, for the program's unwinder.
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
// sign_stub: pacia1716/pacib1716 sign x17 with x16 as the modifier. They are
// hint-space instructions, NOPs on a CPU without FEAT_PAuth (where the stub
// returns its inputs unchanged), which the sp forms are too.
//
// The stub signs two values with one key and modifier: R and T again. The
// signed T must equal the copy found, bit for bit, before the signed R is
// written in its place: proof that key and modifier are the function's.
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

// The stub: one run per key from sign_stub_entry, ending on our brk.
std::vector<uint8_t> sign_stub_bytes();
uint64_t sign_stub_entry(uint64_t stub, PacKey key);
// The PC once the run for `key` trapped (brk does not advance).
uint64_t sign_stub_done_pc(uint64_t stub, PacKey key);
// Sets up `regs` to sign `value` and `check` with `key` and `modifier`.
void prepare_sign(Regs& regs, uint64_t stub, PacKey key, uint64_t modifier, uint64_t value,
                  uint64_t check);
// The two values signed, once the run trapped.
SignedPair sign_result(const Regs& regs);

} // namespace probed::arch::arm64
