#pragma once
// Letting go of calls whose return address the callee signed (arm64 pointer
// authentication): at a detach (and so at daemon shutdown) and in a fork
// child released with the forking thread's frames. The plain copies of the
// trampoline address are put back by the caller first; a signed copy gets
// the true return address signed by the tracee, on the thread that owns the
// frame (daemon/return_signer.h), after the same check as for the program's
// unwinder: the trampoline address signed with the frame's key and entry sp
// must be the copy found, bit for bit. Then the call returns straight to its
// caller and nothing of ours needs to stay in the process. A frame whose
// copy fails the check (or where the stub cannot run) is left to the
// detached-return stub (daemon/detached_returns.h), the fallback.
#include "arch/host.h"
#include "daemon/memory_access.h"
#include "daemon/return_signer.h"
#include "daemon/shadow_stack.h"
#include "daemon/stack_bounds.h"

#include <cstdint>
#include <functional>
#include <span>
#include <sys/types.h>
#include <vector>

namespace probed {

struct SignedRelease {
    // By frame: a signed copy of its trampoline address was found (the call
    // is still pending, whether re-signed or left to the stub).
    std::vector<bool> pending;
    // Frames whose every signed copy now holds the signed true address.
    uint64_t resigned = 0;
    // Of their copies, those in the link register that read as the plain
    // trampoline address (an authentication code of 0), signed because the
    // code ahead authenticates x30.
    uint64_t zero_code_in_register = 0;
    // Frames still holding a signed copy of the trampoline address, as
    // {entry sp, true return address}, newest first: for the stub.
    std::vector<arch::DetachedReturn> left;
};

// The key a frame's prologue signs with, nullopt when it does not sign
// (entry_signing_key).
using SigningKeyOf = std::function<std::optional<arch::PacKey>(const ShadowFrame&)>;
// What the code at the thread's PC does with the link register
// (link_state_at), asked only for a copy there that reads as plain.
using LinkStateOf = std::function<arch::LinkState()>;

// Re-signs the signed copies of the hijacked frames of `frames` (a thread's,
// oldest first; `tid` its thread, `mem` its memory) with `signer`, which
// runs on that thread. `regs` are the thread's, its plain copies put back;
// a copy in the link register is written there, for the caller to set once
// `signer` has gone (it puts the registers it found back). Without pointer
// authentication (no PAC mask) nothing is signed and nothing is done.
// A copy equal to the trampoline address in a signing frame's memory
// (CopyForm::Ambiguous, daemon/copy_form.h) is the caller's to leave alone:
// this signs the true address for it when the tracee's check says paciasp
// produced it, and puts the plain one there otherwise. One in the link
// register is signed when the code ahead authenticates it (`link_state`).
SignedRelease release_signed_calls(ReturnSigner& signer, MemoryAccess& mem, pid_t tid,
                                   std::span<const ShadowFrame> frames, arch::host::Regs& regs,
                                   StackBounds& stacks, const SigningKeyOf& key_of,
                                   const LinkStateOf& link_state);

} // namespace probed
