#include "daemon/return_locator.h"

#include <spdlog/spdlog.h>

#include <cstring>

namespace probed {

namespace host = arch::host;

namespace {

// The most stack read for one frame: a frame bigger than this is unusual
// enough to leave alone (its value is reported not found).
constexpr uint64_t kMaxSearch = 1ull << 20;

// The lower bound of frame i's search: the entry sp of the next newer frame
// on the same stack, else the thread's stack pointer. A newer frame on
// another stack (a handler's on a sigaltstack) does not bound it.
std::optional<uint64_t> newer_bound(std::span<const ShadowFrame> frames, size_t i, uint64_t sp,
                                    StackBounds& stacks) {
    const uint64_t entry = frames[i].entry_sp;
    for (size_t j = i + 1; j < frames.size(); ++j)
        if (frames[j].entry_sp <= entry && stacks.same_stack(entry, frames[j].entry_sp))
            return frames[j].entry_sp;
    if (sp <= entry && stacks.same_stack(entry, sp)) return sp;
    return std::nullopt;
}

void search_memory(MemoryAccess& mem, size_t frame, uint64_t lo, uint64_t hi, uint64_t value,
                   uint64_t ignore_bits, std::vector<ReturnSpot>& out) {
    if (lo >= hi) return;
    if (hi - lo > kMaxSearch) {
        spdlog::warn("frame at sp {:#x}: {} bytes of stack is too much to search", hi, hi - lo);
        return;
    }
    std::vector<uint8_t> bytes((hi - lo) & ~7ull);
    if (bytes.empty() || !mem.read(lo, bytes)) return;
    for (size_t off = 0; off < bytes.size(); off += 8) {
        uint64_t word;
        std::memcpy(&word, bytes.data() + off, sizeof word);
        if ((word & ~ignore_bits) == value) out.push_back({frame, false, lo + off, word});
    }
}

} // namespace

std::vector<ReturnSpot> locate_returns(MemoryAccess& mem, std::span<const ShadowFrame> frames,
                                       const host::Regs& regs, StackBounds& stacks,
                                       const WantedValue& wanted, uint64_t ignore_bits) {
    std::vector<ReturnSpot> out;
    const uint64_t sp = host::stack_pointer_of(regs);
    for (size_t i = 0; i < frames.size(); ++i) {
        auto value = wanted(frames[i]);
        if (!value) continue;
        const bool newest = i + 1 == frames.size();
        auto bound = newer_bound(frames, i, sp, stacks);
        // Without a bound the architecture may still know the one place
        // (x86_64 ignores it); with none, only the register is searched.
        auto search = host::return_search(frames[i].entry_sp, bound.value_or(frames[i].entry_sp),
                                          newest);
        const uint64_t lr = host::link_register(regs);
        if (search.link_register && (lr & ~ignore_bits) == *value) out.push_back({i, true, 0, lr});
        search_memory(mem, i, search.lo, search.hi, *value, ignore_bits, out);
    }
    return out;
}

std::optional<uint64_t> read_return(MemoryAccess& mem, const host::Regs& regs,
                                    const ReturnSpot& spot) {
    if (spot.in_register) return host::link_register(regs);
    uint64_t word = 0;
    if (!mem.read(spot.address, {reinterpret_cast<uint8_t*>(&word), sizeof word}))
        return std::nullopt;
    return word;
}

Result<void> write_return(MemoryAccess& mem, host::Regs& regs, const ReturnSpot& spot,
                          uint64_t value) {
    if (spot.in_register) {
        host::set_link_register(regs, value);
        return {};
    }
    return mem.write(spot.address, {reinterpret_cast<const uint8_t*>(&value), sizeof value});
}

} // namespace probed
