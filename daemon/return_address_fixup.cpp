#include "daemon/return_address_fixup.h"

#include "arch/host.h"

namespace probed {

namespace host = arch::host;

uint64_t ReturnAddressFixup::apply(uint64_t addr, uint64_t word) const {
    if (!is_trampoline(word)) return word;
    // The same value elsewhere (a stale copy below sp, a frame's local) is
    // left alone: only a place where a hijacked frame keeps its return
    // address counts. Newest first: each frame's place is bounded by the
    // frame called after it.
    const auto& frames = shadow_.frames();
    uint64_t newer_bound = sp_;
    for (size_t i = frames.size(); i-- > 0;) {
        const ShadowFrame& f = frames[i];
        arch::ReturnSearch s = host::return_search(f.entry_sp, newer_bound, i + 1 == frames.size());
        if (addr >= s.lo && addr < s.hi) return f.return_address;
        newer_bound = f.entry_sp;
    }
    return word;
}

uint64_t ReturnAddressFixup::apply_link_register(uint64_t value) const {
    if (!is_trampoline(value) || shadow_.empty()) return value;
    // Each call rewrites the link register, so only the newest frame's
    // hijacked value can still be there.
    const ShadowFrame& f = shadow_.frames().back();
    if (!host::return_search(f.entry_sp, sp_, true).link_register) return value;
    return f.return_address;
}

uint64_t ReturnAddressFixup::apply_at_entry(uint64_t entry_sp, uint64_t value) const {
    if (!is_trampoline(value)) return value;
    if (auto real = shadow_.return_address_for(entry_sp)) return *real;
    return value;
}

} // namespace probed
