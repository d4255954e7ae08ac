#include "tests/integration/fire_probes.h"

namespace probed::testing {

namespace {

#if defined(__x86_64__)
constexpr const char* kLeafA = "kind_indirect_call";
constexpr const char* kLeafB = "kind_riprel";
constexpr const char* kLeafC = "kind_push";
#else
constexpr const char* kLeafA = "leaf_a";
constexpr const char* kLeafB = "leaf_b";
constexpr const char* kLeafC = "leaf_c";
#endif

} // namespace

const std::vector<FireFunction>& fire_functions() {
    // Arguments are (thread, iteration) for the levels and x for the leaves.
    static const std::vector<FireFunction> functions = {
        {"level1", [](const std::vector<uint64_t>& a) { return 5 * a[1] + 2 * a[0] + 2021; }},
        {"level2", [](const std::vector<uint64_t>& a) { return 2 * (2 * a[1] + a[0] + 1010) + 1; }},
        {"level3", [](const std::vector<uint64_t>& a) { return 2 * a[1] + a[0] + 1010; }},
        {kLeafA, [](const std::vector<uint64_t>& a) { return a[0] + 7; }},
        {kLeafB, [](const std::vector<uint64_t>& a) { return a[0] + 1000; }},
        {kLeafC, [](const std::vector<uint64_t>& a) { return a[0] + 3; }},
    };
    return functions;
}

std::string fire_stepped_leaf() {
#if defined(__x86_64__)
    return kLeafA;
#else
    return {};
#endif
}

} // namespace probed::testing
