#pragma once
// Which stack-pointer values lie on the same stack. A thread runs on its own
// stack and, inside a signal handler, possibly on a sigaltstack; a longjmp
// or an exception only ever unwinds within one of them, so a frame proves
// another dead only when both are on the same stack (docs/unwinding.md,
// "Signal handlers and siglongjmp").
//
// The truth is the memory mapping: a stack is one mapping (VMA), and two
// stacks are two mappings however close they lie. A distance rule is kept
// only for when the mappings cannot be read.
#include "daemon/proc_maps.h"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace probed {

class StackBounds {
public:
    virtual ~StackBounds() = default;
    virtual bool same_stack(uint64_t a, uint64_t b) = 0;
};

// The fallback: within `span` bytes of each other (a thread's stack is at
// most 8 MiB by default). Wrong for a sigaltstack mapped close to the stack.
class StackSpanBounds : public StackBounds {
public:
    explicit StackSpanBounds(uint64_t span) : span_(span) {}
    bool same_stack(uint64_t a, uint64_t b) override {
        return a <= b ? b - a < span_ : a - b < span_;
    }

private:
    uint64_t span_;
};

inline constexpr uint64_t kFallbackStackSpan = 16ull << 20;

// The mapping a stack address belongs to, as [start, end). An address below
// the main thread's "[stack]" (nothing mapped in between) belongs to it: that
// stack grows down on demand, and a stack pointer may be there before the
// kernel extends the mapping. nullopt: no mapping (an unmapped altstack).
struct StackRegion {
    uint64_t start = 0;
    uint64_t end = 0;
    bool operator==(const StackRegion&) const = default;
};
std::optional<StackRegion> stack_region(const std::vector<MapEntry>& maps, uint64_t addr);

// Same stack = same mapping of a given /proc/PID/maps (pure; hand-made maps
// in tests).
class MappedStackBounds : public StackBounds {
public:
    explicit MappedStackBounds(std::vector<MapEntry> maps) : maps_(std::move(maps)) {}
    bool same_stack(uint64_t a, uint64_t b) override;

private:
    std::vector<MapEntry> maps_;
};

// A live process's: /proc/PID/maps read on the first question and kept for
// the stop being handled only (make one per stop). The program maps, unmaps
// and switches stacks without telling us (mmap, sigaltstack are not traced),
// so an older snapshot could call a new altstack part of an old mapping.
// Questions are rare (a call at or above a pending frame's slot), so the
// common hit path never reads the maps. If they cannot be read (the process
// is gone, or shows no mappings), the distance rule answers.
class ProcessStackBounds : public StackBounds {
public:
    using MapsReader = std::function<Result<std::vector<MapEntry>>()>;
    // /proc/PID/maps of `pid`.
    explicit ProcessStackBounds(pid_t pid)
        : ProcessStackBounds([pid] { return read_proc_maps(pid); }) {}
    // The maps as `read` gives them (a traced process's: daemon/process_maps.h).
    explicit ProcessStackBounds(MapsReader read) : read_(std::move(read)) {}
    bool same_stack(uint64_t a, uint64_t b) override;

private:
    MapsReader read_;
    std::optional<MappedStackBounds> mapped_;
    StackSpanBounds fallback_{kFallbackStackSpan};
    bool unreadable_ = false;
};

} // namespace probed
