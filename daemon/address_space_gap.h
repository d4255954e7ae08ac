#pragma once
// Finding room for an injected page close to a given address, so slots can
// reach the probed code with direct (rel32) jumps and RIP-relative operands.
#include "arch/host.h"
#include "daemon/proc_maps.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace probed {

// Lowest and highest addresses we are willing to map at (stays clear of the
// NULL page region; the top of user space is the architecture's).
constexpr uint64_t kLowestMapAddress = 0x10000;
constexpr uint64_t kHighestMapAddress = arch::host::kHighestMapAddress;

// The page-aligned address of a free range of `size` bytes, every byte of
// which lies within `max_distance` of `near`, closest to `near` first; never
// inside the guard area below the main stack. `skip` lists addresses already
// tried and found taken.
std::optional<uint64_t> find_free_range_near(const std::vector<MapEntry>& maps, uint64_t near,
                                             uint64_t max_distance, uint64_t size,
                                             const std::vector<uint64_t>& skip = {});

} // namespace probed
