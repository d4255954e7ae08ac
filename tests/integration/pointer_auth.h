#pragma once
// Whether this machine authenticates return addresses, and whether the test
// run said it must. The arm64 VM boots a CPU with pointer authentication for
// the tests whose targets sign return addresses and exports
// PROBED_EXPECT_PAC=1 there (tests/arm64/run, vm_init): a wrong CPU flag
// then fails those tests instead of letting them test nothing.
#include <doctest/doctest.h>
#include <sys/auxv.h>

#include <cstdlib>
#include <cstring>

namespace probed::testing {

inline bool pointer_auth_active() {
#if defined(__aarch64__) && defined(HWCAP_PACA)
    return (getauxval(AT_HWCAP) & HWCAP_PACA) != 0;
#else
    return false;
#endif
}

inline bool pointer_auth_expected() {
    const char* v = std::getenv("PROBED_EXPECT_PAC");
    return v && std::strcmp(v, "1") == 0;
}

// For a TEST_CASE of its own in each test the PAC boot runs.
inline void require_expected_pointer_auth() {
    INFO("PROBED_EXPECT_PAC=1 but the CPU has no pointer authentication (HWCAP_PACA): "
         "check PROBED_ARM64_CPU");
    if (pointer_auth_expected()) REQUIRE(pointer_auth_active());
}

} // namespace probed::testing
