#pragma once
// The addresses a process's hijacked return addresses point at. The generic
// trampoline is a bare breakpoint: at its stop the tracer sets the PC to the
// frame's true return address. Where the architecture allows, each return
// address R the process returns to also gets a dedicated trampoline that
// traps and then jumps to R by itself, which saves the tracer a register
// write per return (docs/hit_cost.md). A dedicated trampoline's meaning never
// changes while the process is traced, so any code that finds one (a stack
// walk, detach) knows where it leads without asking the shadow stack.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

namespace probed {

class ReturnTrampolines {
public:
    // The generic trampoline; 0 until the process has one.
    void set_generic(uint64_t address) { generic_ = address; }
    uint64_t generic() const { return generic_; }
    bool any() const { return generic_ != 0; }

    // Records the dedicated trampoline at `trampoline` that leads to `target`.
    void add(uint64_t target, uint64_t trampoline);
    // The trampoline to store for a call returning to `target`: its
    // dedicated one, else the generic one.
    uint64_t for_return(uint64_t target) const;
    // Where the dedicated trampoline at `trampoline` leads.
    std::optional<uint64_t> target_of(uint64_t trampoline) const;
    // The dedicated trampoline whose code (`size` bytes from its start)
    // holds `pc`, if any: a thread interrupted between its trap and its jump.
    std::optional<uint64_t> dedicated_holding(uint64_t pc, size_t size) const;
    // Any trampoline of ours starts at `address`.
    bool is_trampoline(uint64_t address) const;
    size_t dedicated_count() const { return by_target_.size(); }

    // Forgets everything (exec: the pages are gone).
    void clear();

private:
    uint64_t generic_ = 0;
    std::unordered_map<uint64_t, uint64_t> by_target_;     // target -> trampoline
    std::unordered_map<uint64_t, uint64_t> by_trampoline_; // trampoline -> target
};

} // namespace probed
