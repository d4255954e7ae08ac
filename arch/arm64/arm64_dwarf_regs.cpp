#include "arch/arm64/arm64_dwarf_regs.h"

#include <algorithm>

namespace probed::arch::arm64 {

std::array<uint64_t, kDwarfGprCount> dwarf_gprs(const Regs& r) {
    // Unlike x86_64, the DWARF order is the encoding order.
    std::array<uint64_t, kDwarfGprCount> out{};
    std::copy(std::begin(r.x), std::end(r.x), out.begin());
    out[kDwarfStackPointer] = r.sp;
    return out;
}

} // namespace probed::arch::arm64
