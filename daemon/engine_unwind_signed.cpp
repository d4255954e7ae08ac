// Signed copies of the trampoline address, for the program's unwinder (arm64
// pointer authentication). Why the tracee signs the true return address with
// the function's key and its entry sp: arch/arm64/arm64_return_signing.h;
// the mechanism around it: docs/unwinding.md.
#include "daemon/engine.h"

#include "arch/host.h"
#include "daemon/return_locator.h"
#include "daemon/return_signer.h"

#include <spdlog/spdlog.h>

#include <map>
#include <utility>

namespace probed {

namespace host = arch::host;

void Engine::restore_signed_for_unwind(ProcessState& proc, ThreadState& t, host::Regs& regs,
                                       StackBounds& stacks, const std::vector<bool>& searched) {
    const uint64_t pac_mask = host::pac_code_mask(t.tid);
    if (pac_mask == 0) return; // no pointer authentication: nothing is signed
    auto& frames = t.shadow.frames_for_update();
    // Searched where the plain copies were (the callee signs x30 in place and
    // spills it into its own frame), ignoring the authentication code.
    auto spots = locate_returns(
        *proc.mem, frames, regs, stacks,
        [&](const ShadowFrame& f) {
            const size_t i = static_cast<size_t>(&f - frames.data());
            return searched[i] ? std::optional<uint64_t>(f.trampoline) : std::nullopt;
        },
        pac_mask);
    // The copies to sign, with their form, and one request per frame and
    // word found: one signing serves equal copies, and the tracee signs
    // them all in as few runs as it can (daemon/return_signer.h).
    struct Copy {
        const ReturnSpot* spot;
        CopyForm form;
        size_t request;
    };
    std::vector<Copy> copies;
    std::vector<SignRequest> requests;
    std::map<std::pair<size_t, uint64_t>, size_t> request_of;
    for (const ReturnSpot& spot : spots) {
        const ShadowFrame& f = frames[spot.frame];
        // The plain copies hold the true address already; a copy that only
        // reads as plain (daemon/copy_form.h) is signed here.
        const CopyForm form = copy_form_at(proc, f, spot, regs, pac_mask);
        if (form == CopyForm::Plain) continue;
        // A signed copy lives in the frame's memory: the frame record, or a
        // signal frame that interrupted the function. In x30 it is not
        // reachable at the stops that get here, each the first instruction
        // of an unwinder entry (reached by bl, which writes a plain x30, or
        // by a tail call, which comes after the caller's autiasp) or the
        // return from _Unwind_Backtrace (its own ret's plain x30); were it
        // there, between paciasp and autiasp, the same signed value would
        // be right, as the epilogue authenticates with sp back at the entry
        // sp too.
        auto [it, added] = request_of.try_emplace({spot.frame, spot.value}, requests.size());
        // The modifier paciasp used: sp at the function's first instruction,
        // the frame's entry sp, which is also its CFA, the modifier libgcc's
        // unwinder authenticates with.
        if (added)
            requests.push_back({signing_key_at(proc, f.site), f.entry_sp, f.return_address,
                                f.trampoline, spot.value});
        copies.push_back({&spot, form, it->second});
    }
    if (copies.empty()) return;
    ReturnSigner signer({proc.mem.get(), proc.entry_point, t.tid, &t.held_signal});
    auto pairs = signer.sign(requests);
    counters_.signing_stub_runs += signer.runs();
    if (auto lost = signer.lost_status()) {
        // The thread died while running the stub: its exit is dispatched next.
        ready_stops_.emplace_back(t.tid, lost->raw());
        return;
    }
    if (!pairs) {
        spdlog::warn("tid {}: cannot run the signing stub: {}; the unwinder will see "
                     "our trampoline",
                     t.tid, pairs.error().message);
        return;
    }
    for (const Copy& c : copies) {
        const ReturnSpot& spot = *c.spot;
        ShadowFrame& f = frames[spot.frame];
        const std::optional<arch::SignedPair>& pair = (*pairs)[c.request];
        uint64_t value = 0; // signed, it may still read as plain (a code of 0)
        bool signs = true;
        if (pair) {
            value = pair->value;
        } else if (c.form == CopyForm::Ambiguous) {
            value = f.return_address; // plain after all: no prologue made it
            signs = false;
        } else {
            spdlog::warn("tid {}: a signed copy of the trampoline address at sp {:#x} was "
                         "not signed by the call entered there; left alone",
                         t.tid, f.entry_sp);
            continue;
        }
        if (!write_return(*proc.mem, regs, spot, value)) continue;
        f.hijacked = false;
        t.unwind_restored.push_back({f.entry_sp, spot, value, spot.value});
        if (signs) ++counters_.signed_for_unwind;
    }
}

} // namespace probed
