#pragma once
// Helpers shared by the arm64 unit tests: code is written as 32-bit words
// (assembly in a comment on each line) and handed to the backend as the
// little-endian bytes the tracee's memory holds.
#include "arch/arm64/arm64_decoder.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

namespace arm64_test {

// Every test decodes at this address unless it says otherwise. Not page
// aligned, so adrp's page arithmetic shows.
constexpr uint64_t kAddr = 0x412344;

inline std::vector<uint8_t> to_bytes(std::initializer_list<uint32_t> words) {
    std::vector<uint8_t> out;
    for (uint32_t w : words)
        for (int i = 0; i < 4; ++i)
            out.push_back(static_cast<uint8_t>(w >> (8 * i)));
    return out;
}

inline probed::arch::arm64::DecodedInsn must_decode(uint32_t word, uint64_t address = kAddr,
                                                    std::span<const uint8_t> preceding = {}) {
    const std::vector<uint8_t> code = to_bytes({word});
    probed::Result<probed::arch::arm64::DecodedInsn> r =
        probed::arch::arm64::decode(code, address, preceding);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return *r;
}

} // namespace arm64_test
