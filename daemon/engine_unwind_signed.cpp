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
    ReturnSigner signer({proc.mem.get(), proc.entry_point, t.tid, &t.held_signal});
    std::map<size_t, arch::SignedPair> signed_for; // by frame: one run serves its copies
    for (const ReturnSpot& spot : spots) {
        ShadowFrame& f = frames[spot.frame];
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
        auto known = signed_for.find(spot.frame);
        uint64_t value = 0; // signed, it may still read as plain (a code of 0)
        bool signs = true;
        if (known != signed_for.end() && known->second.check == spot.value) {
            value = known->second.value;
        } else {
            // The modifier paciasp used: sp at the function's first
            // instruction, the frame's entry sp, which is also its CFA, the
            // modifier libgcc's unwinder authenticates with.
            auto pair = signer.sign(signing_key_at(proc, f.site), f.entry_sp, f.return_address,
                                    f.trampoline, spot.value);
            if (signer.lost_status()) break;
            if (!pair) {
                counters_.signing_stub_runs += signer.runs();
                spdlog::warn("tid {}: cannot run the signing stub: {}; the unwinder will see "
                             "our trampoline",
                             t.tid, pair.error().message);
                return;
            }
            if (!*pair && form == CopyForm::Ambiguous) {
                value = f.return_address; // plain after all: no prologue made it
                signs = false;
            } else if (!*pair) {
                spdlog::warn("tid {}: a signed copy of the trampoline address at sp {:#x} was "
                             "not signed by the call entered there; left alone",
                             t.tid, f.entry_sp);
                continue;
            } else {
                value = signed_for.insert_or_assign(spot.frame, **pair).first->second.value;
            }
        }
        if (!write_return(*proc.mem, regs, spot, value)) continue;
        f.hijacked = false;
        t.unwind_restored.push_back({f.entry_sp, spot, value, spot.value});
        if (signs) ++counters_.signed_for_unwind;
    }
    counters_.signing_stub_runs += signer.runs();
    // The thread died while running the stub: its exit is dispatched next.
    if (auto lost = signer.lost_status()) ready_stops_.emplace_back(t.tid, lost->raw());
}

} // namespace probed
