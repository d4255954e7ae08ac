#pragma once
// Whether x30 holds a signed return address at a given PC, judged by what
// the code from there on does with it (pointer authentication).
//
// A probed function that signs its return address (paciasp, or pacibsp)
// signs our trampoline address T in x30 and keeps the signed value there
// until its epilogue's autiasp (retaa) or its frame record takes it. For 1
// (address, modifier) pair in 128 the authentication code is 0 and the
// signed T is bit for bit the plain T (daemon/copy_form.h). A detach that
// finds x30 == T must then put the true return address R back in the form
// the code ahead expects: signed if it authenticates x30 before returning
// through it, plain if it returns through it as it is (the thread is at the
// entry, before paciasp, or past autiasp). No check in the tracee tells them
// apart (authenticating either form of T succeeds), so the code decides.
//
// The scan follows every direct branch from `pc` (both ways at a
// conditional one) until each path meets a use of x30:
// - autiasp/autibsp/autiaz/autibz, retaa/retab: x30 is signed (Signed);
// - paciasp & co (signing comes, so x30 is still plain), or ret through x30:
//   Plain;
// - an instruction that writes x30 (bl, blr, ldp x29, x30...): the value
//   dies unused on that path, which then says nothing.
// Paths leaving through an indirect branch, code we cannot read or decode,
// or the scan's bound say nothing either. The answer is Signed or Plain when
// at least one path says so and none says the other; Unknown otherwise.
#include "arch/host_types.h"

#include <cstdint>

namespace probed::arch::arm64 {

// How many instructions the scan looks at, over all paths.
constexpr unsigned kLinkScanWords = 512;

LinkState link_register_state(uint64_t pc, const CodeWordReader& read_word);

} // namespace probed::arch::arm64
