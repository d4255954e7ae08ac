#include "daemon/shadow_stack.h"

#include <cstddef>
#include <utility>

namespace probed {

std::optional<ShadowFrame> ShadowStack::pop_returning(uint64_t entry_sp,
                                                      std::vector<ShadowFrame>& abandoned) {
    for (size_t i = frames_.size(); i-- > 0;) {
        if (frames_[i].entry_sp != entry_sp) continue;
        for (size_t j = frames_.size(); j-- > i + 1;) abandoned.push_back(frames_[j]);
        ShadowFrame found = frames_[i];
        truncate(i);
        return found;
    }
    return std::nullopt;
}

void ShadowStack::pop_dead(uint64_t sp, StackBounds& stacks, bool at_call,
                           std::vector<ShadowFrame>& dead) {
    // A new call's return address overwrote a frame's slot at sp; a hit
    // elsewhere in a function may be at its own frame's entry sp.
    auto above = [&](uint64_t entry_sp) { return at_call ? entry_sp > sp : entry_sp >= sp; };
    if (frames_.empty() || above(lowest_.back())) return; // every frame looks alive
    // Frames are in call order: every frame pushed after a dead one ran
    // inside it and is dead too, whatever stack it lives on (a handler's
    // frames on a sigaltstack, left by siglongjmp). A frame on another stack
    // says nothing about `sp`: look past it rather than stop there, or the
    // dead frames below it would stay for ever.
    size_t first_dead = frames_.size();
    for (size_t i = frames_.size(); i-- > 0;) {
        const ShadowFrame& f = frames_[i];
        if (!stacks.same_stack(sp, f.entry_sp)) continue;
        if (above(f.entry_sp)) break; // alive, and so is every frame older than it
        first_dead = i;
    }
    for (size_t i = frames_.size(); i-- > first_dead;) dead.push_back(frames_[i]);
    truncate(first_dead);
}

ShadowFrame ShadowStack::remove(size_t i) {
    ShadowFrame gone = frames_[i];
    frames_.erase(frames_.begin() + static_cast<std::ptrdiff_t>(i));
    lowest_.resize(i);
    for (size_t j = i; j < frames_.size(); ++j)
        lowest_.push_back(j == 0 ? frames_[j].entry_sp : std::min(lowest_.back(), frames_[j].entry_sp));
    return gone;
}

std::optional<uint64_t> ShadowStack::return_address_for(uint64_t slot) const {
    for (size_t i = frames_.size(); i-- > 0;)
        if (frames_[i].entry_sp == slot) return frames_[i].return_address;
    return std::nullopt;
}

std::vector<ShadowFrame> ShadowStack::take_all() {
    lowest_.clear();
    return std::exchange(frames_, {});
}

} // namespace probed
