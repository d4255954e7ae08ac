#include "daemon/return_address_fixup.h"

namespace probed {

uint64_t ReturnAddressFixup::apply(uint64_t addr, uint64_t word) {
    if (trampoline_ == 0 || word != trampoline_) return word;
    // The same value elsewhere (a saved register, a stale copy of the slot
    // below sp) is left alone: only a slot the shadow stack hijacked counts.
    auto real = shadow_.return_address_for(addr);
    if (!real) return word;
    translated_.insert(addr);
    return *real;
}

} // namespace probed
