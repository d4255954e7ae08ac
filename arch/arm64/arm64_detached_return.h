#pragma once
// The return path left in a process after detach (or in a released fork
// child) for calls whose return hijack could not be undone: the fallback.
//
// With pointer authentication the callee signs the hijacked x30 (our
// trampoline address T) with paciasp and spills the signed value. The
// engine has the tracee sign the true address in its place
// (arm64_return_signing.h, daemon/signed_release.h), after checking that T
// signed the same way is that copy. A copy that fails the check keeps T: such
// a call still returns to T after we have gone. So then T is rewritten
// into code that needs no tracer: it looks the current sp up in a table of
// {entry sp, true return address} and returns there.
//
// Why sp identifies the frame: autiasp authenticates with sp as the modifier,
// so a signed return only succeeds with sp back at the value paciasp saw,
// which is the sp at the function's first instruction, the frame's key in
// the shadow stack (hijack_return). `ret` does not move sp. The frames of one
// thread have distinct entry sps (the engine drops a frame once a newer call
// starts at or above its sp) and threads have disjoint stacks, so one sp
// matches at most one entry.
//
// The stub only reads: the page stays read+execute, and an entry is never
// cleared after use (a frame returns once; nothing is hijacked after detach,
// so nothing else can reach T with that sp). It uses x9-x11, x16 and x17 and
// the flags, which a function's caller does not expect preserved across the
// return; never x0-x8 (return values) or the FP/SIMD registers. It leaves by
// `ret x17`, which BTI does not check (BTI guards br/blr targets).
#include "arch/host_types.h"

#include <cstdint>
#include <span>
#include <vector>

namespace probed::arch::arm64 {

// Bytes of the stub (code and its two literals). A table that fits after it
// in the same page goes at kDetachedStubBytes past the stub.
constexpr uint64_t kDetachedStubBytes = 56;
// Where the table goes after a stub at `stub`, when it fits there.
constexpr uint64_t detached_table_after_stub(uint64_t stub) {
    return (stub + kDetachedStubBytes + 15) & ~uint64_t{15};
}

// The stub to write at the trampoline: searches table[0..count) for the
// current sp and returns to its address. With no match it runs our brk: a
// SIGTRAP the program sees (no tracer is left to take it), a clear failure
// rather than a jump to a wrong address.
std::vector<uint8_t> detached_return_stub(uint64_t table, uint64_t count);
// The table's bytes: each entry is two little-endian words, sp then address.
std::vector<uint8_t> detached_return_table(std::span<const DetachedReturn> entries);

} // namespace probed::arch::arm64
