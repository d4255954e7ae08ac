#pragma once
// Per-thread stack of hijacked return addresses (rethook/uretprobe-style), no
// depth limit. Frames are matched by the stack pointer at entry, never by
// position, so frames skipped by longjmp or an exception are detected rather
// than used to return.
#include "arch/host.h"
#include "daemon/stack_bounds.h"
#include "daemon/stack_frame.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace probed {

struct ShadowFrame {
    uint64_t return_address = 0; // the true one we replaced
    uint64_t trampoline = 0;     // what we replaced it with
    uint64_t entry_sp = 0;       // where the return address lived
    uint64_t ts_ns = 0;
    uint64_t site = 0;           // probe site address
    // False while the true address is back in its slot because the
    // program's unwinder is walking the stack (see unwind_hooks.h).
    bool hijacked = true;
    uint8_t nargs = 0;
    std::array<uint64_t, arch::host::kMaxIntArgs> args{};
    std::shared_ptr<const StackTrace> stack; // capture.stack, for the return event
};

class ShadowStack {
public:
    void push(const ShadowFrame& f) {
        lowest_.push_back(frames_.empty() ? f.entry_sp : std::min(lowest_.back(), f.entry_sp));
        frames_.push_back(f);
    }
    bool empty() const { return frames_.empty(); }
    size_t size() const { return frames_.size(); }
    const std::vector<ShadowFrame>& frames() const { return frames_; }
    // For flipping `hijacked`; frames must not be added or removed through it.
    std::vector<ShadowFrame>& frames_for_update() { return frames_; }
    // The newest frame, if it is the call at `site` entered with `entry_sp`
    // (the one an entry hit just pushed); for updating its fields.
    ShadowFrame* newest_call(uint64_t site, uint64_t entry_sp) {
        if (frames_.empty()) return nullptr;
        ShadowFrame& f = frames_.back();
        return f.site == site && f.entry_sp == entry_sp ? &f : nullptr;
    }
    // Forgets the frame just pushed (its call did not start after all).
    void pop_newest() {
        if (!frames_.empty()) truncate(frames_.size() - 1);
    }
    // Removes frame i, found gone out of call order; returns it.
    ShadowFrame remove(size_t i);

    // The trampoline was reached with the return-address slot at `entry_sp`.
    // Removes and returns the matching frame, and moves every frame above it
    // (pushed later, never returned: longjmp/exception) to `abandoned`, oldest
    // last. nullopt if no frame matches (stack left untouched).
    std::optional<ShadowFrame> pop_returning(uint64_t entry_sp,
                                             std::vector<ShadowFrame>& abandoned);

    // A thread stopped with stack pointer `sp`: frames entered with a stack
    // pointer below it have been unwound past (longjmp, exception) and can
    // never return; so has one entered at exactly sp when this stop is a new
    // call (`at_call`: its return address took that place), but not when it
    // is an instruction further into a function, which may be that very
    // frame's. Moves them to `dead`, newest first.
    // Only frames on the same stack as sp count (`stacks` says which: a
    // handler on a sigaltstack does not kill the frames it interrupted);
    // frames pushed after a dead one are dead too, on whatever stack.
    // `stacks` is asked nothing unless some frame is at or below sp, so the
    // common case (a call deeper than every pending frame) costs no lookup.
    void pop_dead(uint64_t sp, StackBounds& stacks, bool at_call, std::vector<ShadowFrame>& dead);

    // The true return address for a trampoline found in a stack slot at `slot`.
    std::optional<uint64_t> return_address_for(uint64_t slot) const;

    std::vector<ShadowFrame> take_all();

private:
    void truncate(size_t n) {
        frames_.resize(n);
        lowest_.resize(n);
    }

    std::vector<ShadowFrame> frames_;
    // lowest_[i]: the lowest entry_sp of frames 0..i, so pop_dead sees in one
    // comparison that no frame can be dead.
    std::vector<uint64_t> lowest_;
};

} // namespace probed
