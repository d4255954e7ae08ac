#include "daemon/return_trampolines.h"

namespace probed {

void ReturnTrampolines::add(uint64_t target, uint64_t trampoline) {
    by_target_[target] = trampoline;
    by_trampoline_[trampoline] = target;
}

uint64_t ReturnTrampolines::for_return(uint64_t target) const {
    auto it = by_target_.find(target);
    return it != by_target_.end() ? it->second : generic_;
}

std::optional<uint64_t> ReturnTrampolines::target_of(uint64_t trampoline) const {
    auto it = by_trampoline_.find(trampoline);
    if (it == by_trampoline_.end()) return std::nullopt;
    return it->second;
}

std::optional<uint64_t> ReturnTrampolines::dedicated_holding(uint64_t pc, size_t size) const {
    // Few entries (one per call site of a probed function, capped): a scan.
    for (const auto& [trampoline, target] : by_trampoline_)
        if (pc >= trampoline && pc < trampoline + size) return trampoline;
    return std::nullopt;
}

bool ReturnTrampolines::is_trampoline(uint64_t address) const {
    if (address == 0) return false;
    return address == generic_ || by_trampoline_.count(address) != 0;
}

void ReturnTrampolines::clear() {
    generic_ = 0;
    by_target_.clear();
    by_trampoline_.clear();
}

} // namespace probed
