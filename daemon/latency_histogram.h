#pragma once
// Call durations in power-of-two buckets: bucket 0 holds 0 and 1 ns, bucket
// i (i >= 1) holds [2^i, 2^(i+1)) ns. Fixed size, so a probe that fires
// billions of times costs the same 64 counters; exact min, max and sum ride
// along so the mean is exact and percentiles can be clamped to what was seen.
#include "common/jsonrpc.h"
#include "common/result.h"

#include <array>
#include <cstdint>

namespace probed {

class LatencyHistogram {
public:
    static constexpr size_t kBuckets = 64;

    void add(uint64_t ns);
    void merge(const LatencyHistogram& other);

    static size_t bucket_of(uint64_t ns);
    // Smallest and largest value bucket i can hold.
    static uint64_t bucket_low(size_t i);
    static uint64_t bucket_high(size_t i);

    uint64_t count() const { return count_; }
    uint64_t bucket(size_t i) const { return buckets_[i]; }
    uint64_t min() const { return count_ ? min_ : 0; }
    uint64_t max() const { return max_; }
    // Saturates at UINT64_MAX (584 years of total call time).
    uint64_t sum() const { return sum_; }

    // The q-quantile (0 < q <= 1), found in the bucket holding the
    // ceil(q*count)-th smallest value and interpolated linearly inside it:
    // the true value lies in the same bucket, so the estimate is off by less
    // than the bucket's width (under a factor of 2), and it is clamped to
    // [min, max]. 0 when empty.
    uint64_t percentile(double q) const;

    // {"buckets": [[low, count], ...] (non-empty only), "count", "min", "max", "sum"}
    rpc::json to_json() const;
    static Result<LatencyHistogram> from_json(const rpc::json& j);

private:
    std::array<uint64_t, kBuckets> buckets_{};
    uint64_t count_ = 0;
    uint64_t min_ = UINT64_MAX;
    uint64_t max_ = 0;
    uint64_t sum_ = 0;
};

} // namespace probed
