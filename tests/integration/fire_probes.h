#pragma once
// The probed functions of tests/targets/fire_target.c and the value each
// must return, shared by the tests that trace it.
#include "daemon/call_event.h"

#include <cstdint>
#include <string>
#include <vector>

namespace probed::testing {

struct FireFunction {
    std::string name;
    // What the function returns for the captured arguments.
    uint64_t (*expected)(const std::vector<uint64_t>& args);
};

// level1 -> level2 -> level3 -> three leaves; on x86_64 the leaves are the
// stepped, boosted and simulated kinds of insn_kinds.S.
const std::vector<FireFunction>& fire_functions();

// Name of the leaf whose first instruction is stepped, empty where the
// target has none (only x86_64 has one).
std::string fire_stepped_leaf();

} // namespace probed::testing
