#include "daemon/shadow_stack.h"

#include <utility>

namespace probed {

std::optional<ShadowFrame> ShadowStack::pop_returning(uint64_t entry_sp,
                                                      std::vector<ShadowFrame>& abandoned) {
    for (size_t i = frames_.size(); i-- > 0;) {
        if (frames_[i].entry_sp != entry_sp) continue;
        for (size_t j = frames_.size(); j-- > i + 1;) abandoned.push_back(frames_[j]);
        ShadowFrame found = frames_[i];
        frames_.resize(i);
        return found;
    }
    return std::nullopt;
}

void ShadowStack::pop_dead(uint64_t sp, uint64_t span, std::vector<ShadowFrame>& dead) {
    while (!frames_.empty() && frames_.back().entry_sp <= sp && sp - frames_.back().entry_sp < span) {
        dead.push_back(frames_.back());
        frames_.pop_back();
    }
}

std::optional<uint64_t> ShadowStack::return_address_for(uint64_t slot) const {
    for (size_t i = frames_.size(); i-- > 0;)
        if (frames_[i].entry_sp == slot) return frames_[i].return_address;
    return std::nullopt;
}

std::vector<ShadowFrame> ShadowStack::take_all() { return std::exchange(frames_, {}); }

} // namespace probed
