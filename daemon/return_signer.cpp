#include "daemon/return_signer.h"

#include "daemon/stack_scratch.h"

#include <algorithm>

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
        if (!proc.mem->read(address, word)) return std::optional<std::array<uint8_t, 4>>();
        proc.breakpoints->hide(address, word);
        return std::optional<std::array<uint8_t, 4>>(word);
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

namespace {

arch::PacKey other_key(arch::PacKey key) {
    return key == arch::PacKey::A ? arch::PacKey::B : arch::PacKey::A;
}

// How many table pairs fit between the stack pointer of `regs` and the
// floor of its dead stack (daemon/stack_scratch.h).
size_t table_room(pid_t tid, const host::Regs& regs) {
    auto floor = dead_stack_floor(tid, regs);
    if (!floor) return 0;
    size_t pairs = host::kSignTableMaxPairs;
    while (pairs > 0 && host::sign_table_address(regs, pairs) < *floor) --pairs;
    return pairs;
}

} // namespace

Result<void> ReturnSigner::begin() {
    if (code_) return {};
    auto begun = InjectedCode::begin(target_, host::sign_stub_bytes());
    if (!begun) return std::move(begun).error();
    code_.emplace(std::move(*begun));
    table_pairs_ = table_room(target_.tid, code_->saved_regs());
    return {};
}

Result<std::vector<std::optional<arch::SignedPair>>> ReturnSigner::sign(
    std::span<const SignRequest> requests) {
    if (lost_status()) return make_error(ErrorKind::ProcessGone, "thread exited");
    std::vector<std::optional<arch::SignedPair>> out(requests.size());
    if (requests.empty()) return out;
    PROBED_TRY(begin());
    // The requests still to sign with a key, and whether it is their second.
    struct Try {
        size_t request;
        arch::PacKey key;
        bool last;
    };
    std::vector<Try> todo;
    for (size_t i = 0; i < requests.size(); ++i) todo.push_back({i, requests[i].first, false});
    while (!todo.empty()) {
        // One key at a time: a run signs with one.
        const arch::PacKey key = todo.front().key;
        std::vector<Try> now, later;
        for (const Try& t : todo) (t.key == key ? now : later).push_back(t);
        std::vector<arch::PacSignInput> inputs;
        for (const Try& t : now) {
            const SignRequest& r = requests[t.request];
            inputs.push_back({r.modifier, r.value});
            inputs.push_back({r.modifier, r.trampoline});
        }
        auto values = sign_values(key, inputs);
        if (!values) return std::move(values).error();
        for (size_t k = 0; k < now.size(); ++k) {
            const arch::SignedPair pair{(*values)[2 * k], (*values)[2 * k + 1]};
            // The proof: the check signed exactly as the copy found.
            if (pair.check == requests[now[k].request].found) out[now[k].request] = pair;
            else if (!now[k].last) later.push_back({now[k].request, other_key(key), true});
        }
        todo = std::move(later);
    }
    return out;
}

Result<std::vector<uint64_t>> ReturnSigner::sign_values(
    arch::PacKey key, std::span<const arch::PacSignInput> inputs) {
    std::vector<uint64_t> out;
    out.reserve(inputs.size());
    for (size_t at = 0; at < inputs.size();) {
        if (table_pairs_ == 0) {
            // No room below the stack pointer: a run per value.
            auto one = sign_one(key, inputs[at++]);
            if (!one) return std::move(one).error();
            out.push_back(*one);
            continue;
        }
        const size_t n = std::min(table_pairs_, inputs.size() - at);
        auto chunk = sign_table(key, inputs.subspan(at, n));
        if (!chunk) return std::move(chunk).error();
        out.insert(out.end(), chunk->begin(), chunk->end());
        at += n;
    }
    return out;
}

Result<std::vector<uint64_t>> ReturnSigner::sign_table(
    arch::PacKey key, std::span<const arch::PacSignInput> inputs) {
    host::Regs regs = code_->saved_regs();
    const uint64_t table = host::sign_table_address(regs, inputs.size());
    std::vector<uint8_t> bytes = host::sign_table_bytes(inputs);
    auto scratch = StackScratch::borrow(*target_.mem, table, bytes.size());
    if (!scratch) return std::move(scratch).error();
    PROBED_TRY(target_.mem->write(table, bytes));
    host::prepare_sign_table(regs, code_->address(), key, table, inputs.size());
    ++runs_;
    auto done = code_->run(regs, host::sign_stub_done_pc(code_->address()));
    if (!done) return std::move(done).error();
    PROBED_TRY(target_.mem->read(table, bytes));
    return host::signed_table_values(bytes);
}

Result<uint64_t> ReturnSigner::sign_one(arch::PacKey key, arch::PacSignInput input) {
    host::Regs regs = code_->saved_regs();
    host::prepare_sign_one(regs, code_->address(), key, input);
    ++runs_;
    auto done = code_->run(regs, host::sign_stub_done_pc(code_->address()));
    if (!done) return std::move(done).error();
    return host::signed_one(*done);
}

} // namespace probed
