#include "daemon/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace probed {

size_t LatencyHistogram::bucket_of(uint64_t ns) {
    return ns < 2 ? 0 : static_cast<size_t>(std::bit_width(ns) - 1);
}

uint64_t LatencyHistogram::bucket_low(size_t i) { return i == 0 ? 0 : uint64_t{1} << i; }

uint64_t LatencyHistogram::bucket_high(size_t i) {
    return i + 1 >= kBuckets ? UINT64_MAX : (uint64_t{1} << (i + 1)) - 1;
}

void LatencyHistogram::add(uint64_t ns) {
    ++buckets_[bucket_of(ns)];
    ++count_;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
    sum_ = sum_ + ns < sum_ ? UINT64_MAX : sum_ + ns;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ = sum_ + other.sum_ < sum_ ? UINT64_MAX : sum_ + other.sum_;
}

uint64_t LatencyHistogram::percentile(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // Rank of the wanted value, 1-based.
    uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t below = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
        if (buckets_[i] == 0 || below + buckets_[i] < rank) {
            below += buckets_[i];
            continue;
        }
        // Spread the bucket's values evenly over its range, clipped to the
        // values actually seen.
        double low = static_cast<double>(std::max(bucket_low(i), min()));
        double high = static_cast<double>(std::min(bucket_high(i), max_));
        double frac = static_cast<double>(rank - below) / static_cast<double>(buckets_[i]);
        auto v = static_cast<uint64_t>(low + (high - low) * frac);
        return std::clamp(v, min(), max_);
    }
    return max_;
}

rpc::json LatencyHistogram::to_json() const {
    rpc::json buckets = rpc::json::array();
    for (size_t i = 0; i < kBuckets; ++i)
        if (buckets_[i]) buckets.push_back({bucket_low(i), buckets_[i]});
    return {{"buckets", buckets}, {"count", count_}, {"min", min()}, {"max", max_}, {"sum", sum_}};
}

Result<LatencyHistogram> LatencyHistogram::from_json(const rpc::json& j) {
    auto bad = [](const std::string& why) {
        return make_error(ErrorKind::InvalidArgument, "latency histogram: " + why);
    };
    if (!j.is_object() || !j.contains("buckets") || !j["buckets"].is_array())
        return bad("expected an object with a 'buckets' array");
    LatencyHistogram h;
    for (const auto& b : j["buckets"]) {
        if (!b.is_array() || b.size() != 2 || !b[0].is_number_unsigned() || !b[1].is_number_unsigned())
            return bad("each bucket must be [low, count]");
        uint64_t low = b[0].get<uint64_t>();
        size_t i = bucket_of(low);
        if (bucket_low(i) != low) return bad("bucket bound " + std::to_string(low) + " is not a power of two");
        h.buckets_[i] += b[1].get<uint64_t>();
        h.count_ += b[1].get<uint64_t>();
    }
    auto number = [&](const char* key, uint64_t& out) {
        if (j.contains(key) && j[key].is_number_unsigned()) out = j[key].get<uint64_t>();
    };
    uint64_t count = h.count_;
    number("count", count);
    if (count != h.count_) return bad("count does not match the buckets");
    number("min", h.min_);
    number("max", h.max_);
    number("sum", h.sum_);
    if (h.count_ == 0) h.min_ = UINT64_MAX;
    return h;
}

} // namespace probed
