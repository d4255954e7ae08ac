#pragma once
// Which form a copy of a hijacked frame's trampoline address takes, so each
// gets the true return address in the same form (arm64 pointer
// authentication; on x86_64 every copy is plain).
//
// paciasp puts its authentication code in the address's unused high bits
// (arch::host::pac_code_mask: bits 54:48 with 48-bit addresses and
// top-byte-ignore, so 7 bits), and that code is 0 for one (address,
// modifier) pair in 128: the signed trampoline address is then bit for bit
// the plain one. A deep recursion of probed calls has such a frame more
// often than not (1 - (127/128)^300 = 90% at 300 calls). Taking its copy for
// a plain one puts the plain true address there, which the epilogue's
// autiasp then rejects (the program dies on the poisoned address after a
// detach); so a copy equal to the trampoline address is plain only where no
// prologue can have signed it.
#include "arch/host_types.h"

#include <cstdint>

namespace probed {

enum class CopyForm {
    Plain,    // put the true address back as it is
    Signed,   // have the tracee sign the true address (daemon/return_signer.h)
    Ambiguous // either: signed unless the tracee's check says it cannot be
};

// `value` is the word found (the trampoline address, ignoring `pac_mask`'s
// bits); `signs_at_entry` whether the probed function's first instruction
// signs x30 (arch::host::return_signing_key); `link` what the code at the
// thread's PC does with x30 (arch::host::link_register_state), for a copy
// `in_register`.
constexpr CopyForm copy_form(uint64_t value, uint64_t trampoline, uint64_t pac_mask,
                             bool in_register, bool signs_at_entry,
                             arch::LinkState link = arch::LinkState::Unknown) {
    if (pac_mask == 0) return CopyForm::Plain; // no pointer authentication
    if (value != trampoline) return CopyForm::Signed;
    // x30 holds the plain address before paciasp (the thread is at the
    // entry) and again after autiasp, the signed one in between; with a 0
    // code both read the same, and authenticating either succeeds, so only
    // the code ahead can tell: it authenticates x30 before returning through
    // it (a leaf between paciasp and autiasp, an epilogue between its ldp
    // and autiasp), or it does not. Where it cannot tell, plain: the entry
    // and the ret are the places a thread stops at most.
    if (in_register) return link == arch::LinkState::Signed ? CopyForm::Signed : CopyForm::Plain;
    // A function that does not sign leaves plain copies only.
    if (!signs_at_entry) return CopyForm::Plain;
    // In memory the copies are the ones the function stored after signing
    // (its frame record), or a signal frame that interrupted its entry
    // before paciasp. The tracee's check tells them apart unless the code is
    // 0, where the frame record is the case that matters.
    return CopyForm::Ambiguous;
}

} // namespace probed
