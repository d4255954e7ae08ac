#pragma once
// Encodings newer than ARMv8.0 that need a verdict whatever Capstone says:
// Capstone 4.0 (Debian 12) cannot decode them at all, and a newer Capstone
// that can would not tell us the one thing that matters (the FEAT_PAuth
// branch-with-link writes a slot address into x30, so it must be stepped).
#include "arch/arm64/arm64_decoder.h"

#include <cstdint>
#include <optional>

namespace probed::arch::arm64 {

struct ExtensionVerdict {
    Strategy strategy = Strategy::Reject;
    const char* name = "";
    const char* reject_reason = nullptr; // set iff strategy == Reject
    bool link_fixup = false;
    bool no_fallthrough = false;
};

// nullopt when `word` is none of: FEAT_PAuth branches (retaa, braa, blraa,
// eretaa...) and loads (ldraa), FEAT_LSE atomics (cas, casp, ldadd, swp...),
// FEAT_LRCPC loads/stores (ldapr, ldapur, stlur).
std::optional<ExtensionVerdict> classify_extension(uint32_t word);

} // namespace probed::arch::arm64
