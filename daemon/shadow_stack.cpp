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

void ShadowStack::pop_dead(uint64_t sp, uint64_t span, bool at_call, std::vector<ShadowFrame>& dead) {
    // Frames are in call order: every frame pushed after a dead one ran
    // inside it and is dead too, whatever stack it lives on (a handler's
    // frames on a sigaltstack, left by siglongjmp). A frame on another stack
    // says nothing about `sp`: look past it rather than stop there, or the
    // dead frames below it would stay for ever.
    size_t first_dead = frames_.size();
    for (size_t i = frames_.size(); i-- > 0;) {
        const ShadowFrame& f = frames_[i];
        bool same_stack = f.entry_sp <= sp ? sp - f.entry_sp < span : f.entry_sp - sp < span;
        if (!same_stack) continue;
        // A new call's return address overwrote a frame's slot at sp; a
        // hit elsewhere in a function may be at its own frame's entry sp.
        bool alive = at_call ? f.entry_sp > sp : f.entry_sp >= sp;
        if (alive) break; // and so is every frame older than it
        first_dead = i;
    }
    for (size_t i = frames_.size(); i-- > first_dead;) dead.push_back(frames_[i]);
    frames_.resize(first_dead);
}

std::optional<uint64_t> ShadowStack::return_address_for(uint64_t slot) const {
    for (size_t i = frames_.size(); i-- > 0;)
        if (frames_[i].entry_sp == slot) return frames_[i].return_address;
    return std::nullopt;
}

std::vector<ShadowFrame> ShadowStack::take_all() { return std::exchange(frames_, {}); }

} // namespace probed
