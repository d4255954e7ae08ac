#pragma once
// Where a thread's signal handlers will come back to a probe site. A signal
// that arrives before a hit's displaced instruction ran (in its slot, or in
// an entry stub) is delivered at the original address instead, so the
// handler never sees our page; when the handler returns there, the
// breakpoint traps a second time and that trap is the same call, not a new
// one. Handlers nest (a signal not blocked by the running handler's mask
// arrives while it is itself in a slot), so a thread can owe several
// re-entries at once: one per interrupted level, the innermost last.
#include "daemon/stack_bounds.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace probed {

struct ReentryPoint {
    uint64_t site = 0; // the probe site the handler returns to
    uint64_t sp = 0;   // the stack pointer it returns with
    // Taken out of an entry stub: where in the stub the call goes on (its
    // start, or its displaced instruction once the hijack was done); 0: no stub.
    uint64_t stub_pc = 0;
};

class ReentryPoints {
public:
    void add(const ReentryPoint& point) { points_.push_back(point); }

    // A hit at `site` with stack pointer `sp`. If it is a handler coming
    // back to an interrupted hit, that point is returned and forgotten, with
    // every point added after it (the handlers nested inside have ended).
    // Otherwise points this stop proves abandoned are forgotten: one at or
    // below `sp` on the same stack means its handler left by other means
    // (siglongjmp), and so did every handler nested inside it. A hit in a
    // handler on a sigaltstack mapped above the interrupted stack proves
    // nothing.
    std::optional<ReentryPoint> take(uint64_t site, uint64_t sp, StackBounds& stacks);

    bool empty() const { return points_.empty(); }
    size_t size() const { return points_.size(); }
    void clear() { points_.clear(); }

private:
    std::vector<ReentryPoint> points_; // oldest first
};

} // namespace probed
