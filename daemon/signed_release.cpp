#include "daemon/signed_release.h"

#include "daemon/copy_form.h"
#include "daemon/return_locator.h"

#include <spdlog/spdlog.h>

#include <map>
#include <utility>

namespace probed {

namespace host = arch::host;

namespace {

// Why one frame's copies were not all re-signed, or nullopt when they were;
// `signed_any` says whether one was signed (an ambiguous copy the check
// shows plain gets the plain true address). `pairs` by copy: what the
// tracee's signing gave for its word.
std::optional<std::string> resign_frame(MemoryAccess& mem, host::Regs& regs, const ShadowFrame& f,
                                        std::span<const ReturnSpot* const> copies,
                                        std::span<const std::optional<arch::SignedPair>* const> pairs,
                                        bool& signed_any) {
    for (size_t k = 0; k < copies.size(); ++k) {
        const ReturnSpot* spot = copies[k];
        const std::optional<arch::SignedPair>& pair = *pairs[k];
        // The signed value may read as the plain one too (a code of 0).
        uint64_t value = 0;
        bool signs = true;
        if (pair) {
            value = pair->value;
        } else if (spot->value == f.trampoline) {
            value = f.return_address; // plain after all: no prologue made it
            signs = false;
        } else {
            return "the copy was not signed with this frame's key and entry sp";
        }
        if (auto w = write_return(mem, regs, *spot, value); !w)
            return "writing it: " + w.error().message;
        signed_any |= signs;
    }
    return std::nullopt;
}

} // namespace

SignedRelease release_signed_calls(ReturnSigner& signer, MemoryAccess& mem, pid_t tid,
                                   std::span<const ShadowFrame> frames, host::Regs& regs,
                                   StackBounds& stacks, const SigningKeyOf& key_of,
                                   const LinkStateOf& link_state) {
    SignedRelease out;
    out.pending.assign(frames.size(), false);
    const uint64_t pac_mask = host::pac_code_mask(tid);
    if (pac_mask == 0) return out; // no pointer authentication: nothing is signed
    // Searched where the plain copies were (the callee signs x30 in place
    // and spills it into its own frame), ignoring the authentication code.
    auto spots = locate_returns(
        mem, frames, regs, stacks,
        [](const ShadowFrame& f) {
            return f.hijacked ? std::optional<uint64_t>(f.trampoline) : std::nullopt;
        },
        pac_mask);
    std::vector<std::vector<const ReturnSpot*>> copies(frames.size());
    std::vector<std::optional<arch::PacKey>> keys(frames.size());
    for (const ReturnSpot& spot : spots) {
        const ShadowFrame& f = frames[spot.frame];
        // The code is read only where it matters.
        const bool reads_plain = spot.value == f.trampoline;
        if (reads_plain && !spot.in_register && !keys[spot.frame]) keys[spot.frame] = key_of(f);
        const arch::LinkState link = reads_plain && spot.in_register ? link_state()
                                                                     : arch::LinkState::Unknown;
        const CopyForm form = copy_form(spot.value, f.trampoline, pac_mask, spot.in_register,
                                        keys[spot.frame].has_value(), link);
        // The plain copies hold the true address already.
        if (form != CopyForm::Plain) copies[spot.frame].push_back(&spot);
    }
    // One request per frame and word found: one signing serves equal
    // copies, and the tracee signs them all in as few runs as it can.
    std::vector<SignRequest> requests;
    std::map<std::pair<size_t, uint64_t>, size_t> request_of;
    for (size_t i = frames.size(); i-- > 0;) {
        const ShadowFrame& f = frames[i];
        if (copies[i].empty()) continue;
        out.pending[i] = true;
        if (f.return_address == f.trampoline) {
            // Its true return address is lost: there is nothing to sign,
            // and the stub would loop on itself.
            spdlog::error("tid {}: the call at sp {:#x} returns to the trampoline itself", tid,
                          f.entry_sp);
            continue;
        }
        if (!keys[i]) keys[i] = key_of(f);
        // The modifier paciasp used: sp at the function's first
        // instruction, the frame's entry sp (arm64_return_signing.h).
        for (const ReturnSpot* spot : copies[i])
            if (request_of.try_emplace({i, spot->value}, requests.size()).second)
                requests.push_back({keys[i].value_or(arch::PacKey::A), f.entry_sp,
                                    f.return_address, f.trampoline, spot->value});
    }
    auto pairs = signer.sign(requests);
    for (size_t i = frames.size(); i-- > 0;) {
        const ShadowFrame& f = frames[i];
        if (copies[i].empty() || f.return_address == f.trampoline) continue;
        std::optional<std::string> failed;
        bool signed_any = false;
        if (!pairs) {
            failed = "the signing stub did not run: " + pairs.error().message;
        } else {
            std::vector<const std::optional<arch::SignedPair>*> by_copy;
            for (const ReturnSpot* spot : copies[i])
                by_copy.push_back(&(*pairs)[request_of.at({i, spot->value})]);
            failed = resign_frame(mem, regs, f, copies[i], by_copy, signed_any);
        }
        if (!failed) {
            out.resigned += signed_any;
            for (const ReturnSpot* spot : copies[i])
                out.zero_code_in_register += spot->in_register && spot->value == f.trampoline;
            continue;
        }
        spdlog::warn("tid {}: the call at sp {:#x} keeps a signed copy of the trampoline "
                     "address ({}): it is left to the detached-return stub",
                     tid, f.entry_sp, *failed);
        out.left.push_back({f.entry_sp, f.return_address});
    }
    return out;
}

} // namespace probed
