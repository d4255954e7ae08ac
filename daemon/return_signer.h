#pragma once
// The tracee signs a call's true return address for us (arm64 pointer
// authentication; why and how: arch/arm64/arm64_return_signing.h), so it can
// go where the callee keeps a signed copy of our trampoline address: for the
// program's unwinder (engine_unwind_signed.cpp), at a detach and in a fork
// child we let go of (daemon/signed_release.h).
//
// One signer serves one thread: the keys are per thread (PR_PAC_RESET_KEYS
// changes them for the caller only), so a frame's copy is signed on the
// thread that owns the frame. The stub is written at the first call to
// sign() and taken away, registers restored, when the signer goes. Its
// table goes below the thread's stack pointer, within the stack's mapping
// (/proc/PID/maps, read at the first sign()), and the bytes found there are
// put back after each run.
#include "arch/host.h"
#include "common/result.h"
#include "daemon/copy_form.h"
#include "daemon/injected_code.h"
#include "daemon/return_locator.h"
#include "daemon/tracee.h"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace probed {

// The key the function probed at `site` signs with, as its prologue says
// (our breakpoints hidden); the A key (GCC's default) when it does not say:
// a wrong guess fails the check, and the other key is tried.
arch::PacKey signing_key_at(ProcessState& proc, uint64_t site);
// The key, or nullopt when the function does not sign x30 at its entry.
std::optional<arch::PacKey> entry_signing_key(ProcessState& proc, uint64_t site);

// What the code at the PC of `regs` does with the link register
// (arch::host::link_register_state), read with our breakpoints hidden.
arch::LinkState link_state_at(ProcessState& proc, const arch::host::Regs& regs);

// The form of `spot`, a copy of `f`'s trampoline address found with
// `pac_mask` ignored in a thread with registers `regs` (daemon/copy_form.h).
CopyForm copy_form_at(ProcessState& proc, const ShadowFrame& f, const ReturnSpot& spot,
                      const arch::host::Regs& regs, uint64_t pac_mask);

// One frame's signing: its true return address `value` and `trampoline`,
// signed with key `first` and then, if the signed trampoline is not the
// copy `found`, the other key; `modifier` the frame's entry sp.
struct SignRequest {
    arch::PacKey first = arch::PacKey::A;
    uint64_t modifier = 0;
    uint64_t value = 0;
    uint64_t trampoline = 0;
    uint64_t found = 0;
};

class ReturnSigner {
public:
    explicit ReturnSigner(const InjectionTarget& target) : target_(target) {}

    // The tracee signs for every request, as many values per run of the stub
    // as fit below the thread's stack pointer: by request, the pair whose
    // check is `found`, or nullopt when neither key reproduces `found` (it
    // was not signed by the frame's prologue, so the signed value would not
    // authenticate there). An error when the stub could not be run: then
    // nothing signed may be used.
    Result<std::vector<std::optional<arch::SignedPair>>> sign(
        std::span<const SignRequest> requests);
    // Set when the thread exited under us; the caller must dispatch it.
    std::optional<WaitStatus> lost_status() const {
        return code_ ? code_->lost_status() : std::nullopt;
    }
    // How many times the stub ran.
    uint64_t runs() const { return runs_; }

private:
    Result<void> begin();
    // `inputs`' values signed with `key`, in order.
    Result<std::vector<uint64_t>> sign_values(arch::PacKey key,
                                              std::span<const arch::PacSignInput> inputs);
    // One run over a table of `inputs` below the thread's stack pointer.
    Result<std::vector<uint64_t>> sign_table(arch::PacKey key,
                                             std::span<const arch::PacSignInput> inputs);
    // One run for one value in registers.
    Result<uint64_t> sign_one(arch::PacKey key, arch::PacSignInput input);

    InjectionTarget target_;
    std::optional<InjectedCode> code_; // written at the first sign()
    size_t table_pairs_ = 0;           // how many pairs fit below the stack pointer
    uint64_t runs_ = 0;
};

} // namespace probed
