#include "daemon/return_signer.h"

namespace probed {

namespace host = arch::host;

std::optional<arch::PacKey> entry_signing_key(ProcessState& proc, uint64_t site) {
    std::vector<uint8_t> code(host::kEntrySigningBytes);
    if (code.empty() || !proc.mem->read(site, code)) return std::nullopt;
    proc.breakpoints->hide(site, code);
    return host::return_signing_key(code);
}

arch::PacKey signing_key_at(ProcessState& proc, uint64_t site) {
    return entry_signing_key(proc, site).value_or(arch::PacKey::A);
}

arch::LinkState link_state_at(ProcessState& proc, const host::Regs& regs) {
    return host::link_register_state(host::pc_of(regs), [&proc](uint64_t address) {
        std::array<uint8_t, 4> word{};
        if (!proc.mem->read(address, word)) return std::optional<uint32_t>();
        proc.breakpoints->hide(address, word);
        return std::optional<uint32_t>(uint32_t{word[0]} | uint32_t{word[1]} << 8 |
                                       uint32_t{word[2]} << 16 | uint32_t{word[3]} << 24);
    });
}

CopyForm copy_form_at(ProcessState& proc, const ShadowFrame& f, const ReturnSpot& spot,
                      const host::Regs& regs, uint64_t pac_mask) {
    // Only a copy equal to the trampoline address needs the function's code.
    const bool maybe_signed = pac_mask != 0 && spot.value == f.trampoline;
    const bool signs =
        maybe_signed && !spot.in_register && entry_signing_key(proc, f.site).has_value();
    const arch::LinkState link = maybe_signed && spot.in_register ? link_state_at(proc, regs)
                                                                  : arch::LinkState::Unknown;
    return copy_form(spot.value, f.trampoline, pac_mask, spot.in_register, signs, link);
}

Result<std::optional<arch::SignedPair>> ReturnSigner::sign(arch::PacKey first, uint64_t modifier,
                                                           uint64_t value, uint64_t trampoline,
                                                           uint64_t found) {
    if (lost_status()) return make_error(ErrorKind::ProcessGone, "thread exited");
    if (!code_) {
        auto begun = InjectedCode::begin(target_, host::sign_stub_bytes());
        if (!begun) return std::move(begun).error();
        code_.emplace(std::move(*begun));
    }
    const arch::PacKey other = first == arch::PacKey::A ? arch::PacKey::B : arch::PacKey::A;
    for (arch::PacKey key : {first, other}) {
        host::Regs regs = code_->saved_regs();
        host::prepare_sign(regs, code_->address(), key, modifier, value, trampoline);
        ++runs_;
        auto done = code_->run(regs, host::sign_stub_done_pc(code_->address(), key));
        if (!done) return std::move(done).error();
        arch::SignedPair pair = host::sign_result(*done);
        if (pair.check == found) return std::optional<arch::SignedPair>(pair);
    }
    return std::optional<arch::SignedPair>{};
}

} // namespace probed
