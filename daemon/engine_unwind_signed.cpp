// Signed copies of the trampoline address, for the program's unwinder (arm64
// pointer authentication). Why the tracee signs the true return address with
// the function's key and its entry sp: arch/arm64/arm64_return_signing.h;
// the mechanism around it: docs/unwinding.md.
#include "daemon/engine.h"

#include "arch/host.h"
#include "daemon/injected_code.h"
#include "daemon/return_locator.h"

#include <spdlog/spdlog.h>

#include <map>

namespace probed {

namespace host = arch::host;

namespace {

// The key the function probed at `site` signs with, as its prologue says;
// the A key (GCC's default) when it does not say: a wrong guess fails the
// check, and the other key is tried.
arch::PacKey signing_key_at(ProcessState& proc, uint64_t site) {
    std::vector<uint8_t> code(host::kEntrySigningBytes);
    if (!code.empty() && proc.mem->read(site, code)) {
        proc.breakpoints->hide(site, code);
        if (auto key = host::return_signing_key(code)) return *key;
    }
    return arch::PacKey::A;
}

// The tracee signs `value` and `trampoline` with `modifier`, with `first`
// and then, if the signed trampoline is not the copy `found`, the other key.
// nullopt when neither key reproduces `found` (it was not signed by this
// frame's prologue: leave it alone) or the run failed.
std::optional<arch::SignedPair> sign_like(InjectedCode& code, arch::PacKey first,
                                          uint64_t modifier, uint64_t value, uint64_t trampoline,
                                          uint64_t found) {
    const arch::PacKey other = first == arch::PacKey::A ? arch::PacKey::B : arch::PacKey::A;
    for (arch::PacKey key : {first, other}) {
        host::Regs regs = code.saved_regs();
        host::prepare_sign(regs, code.address(), key, modifier, value, trampoline);
        auto done = code.run(regs, host::sign_stub_done_pc(code.address(), key));
        if (!done) return std::nullopt;
        arch::SignedPair pair = host::sign_result(*done);
        if (pair.check == found) return pair;
    }
    return std::nullopt;
}

} // namespace

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
    std::optional<InjectedCode> code; // written at the first signed copy
    std::map<size_t, arch::SignedPair> signed_for; // by frame: one run serves its copies
    for (const ReturnSpot& spot : spots) {
        ShadowFrame& f = frames[spot.frame];
        // The plain copies hold the true address already.
        if (spot.value == f.trampoline) continue;
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
        if (known == signed_for.end() || known->second.check != spot.value) {
            if (!code) {
                auto begun = InjectedCode::begin(proc, t, host::sign_stub_bytes());
                if (!begun) {
                    spdlog::warn("tid {}: cannot run the signing stub: {}; the unwinder will see "
                                 "our trampoline",
                                 t.tid, begun.error().message);
                    return;
                }
                code.emplace(std::move(*begun));
            }
            // The modifier paciasp used: sp at the function's first
            // instruction, the frame's entry sp, which is also its CFA, the
            // modifier libgcc's unwinder authenticates with.
            auto pair = sign_like(*code, signing_key_at(proc, f.site), f.entry_sp,
                                  f.return_address, f.trampoline, spot.value);
            if (code->lost_status()) break;
            if (!pair) {
                spdlog::warn("tid {}: a signed copy of the trampoline address at sp {:#x} was "
                             "not signed by the call entered there; left alone",
                             t.tid, f.entry_sp);
                continue;
            }
            known = signed_for.insert_or_assign(spot.frame, *pair).first;
        }
        if (!write_return(*proc.mem, regs, spot, known->second.value)) continue;
        f.hijacked = false;
        t.unwind_restored.push_back({f.entry_sp, spot, known->second.value, spot.value});
        ++counters_.signed_for_unwind;
    }
    // The thread died while running the stub: its exit is dispatched next.
    if (code && code->lost_status()) ready_stops_.emplace_back(t.tid, code->lost_status()->raw());
}

} // namespace probed
