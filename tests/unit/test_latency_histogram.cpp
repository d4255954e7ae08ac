#include <doctest/doctest.h>

#include "daemon/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace probed;

TEST_CASE("buckets are powers of two") {
    CHECK(LatencyHistogram::bucket_of(0) == 0);
    CHECK(LatencyHistogram::bucket_of(1) == 0);
    CHECK(LatencyHistogram::bucket_of(2) == 1);
    CHECK(LatencyHistogram::bucket_of(3) == 1);
    CHECK(LatencyHistogram::bucket_of(4) == 2);
    CHECK(LatencyHistogram::bucket_of(1023) == 9);
    CHECK(LatencyHistogram::bucket_of(1024) == 10);
    CHECK(LatencyHistogram::bucket_of(UINT64_MAX) == 63);
    for (size_t i = 1; i < LatencyHistogram::kBuckets; ++i) {
        CHECK(LatencyHistogram::bucket_of(LatencyHistogram::bucket_low(i)) == i);
        CHECK(LatencyHistogram::bucket_of(LatencyHistogram::bucket_high(i)) == i);
        CHECK(LatencyHistogram::bucket_high(i - 1) + 1 == LatencyHistogram::bucket_low(i));
    }
}

TEST_CASE("counts, min, max, sum") {
    LatencyHistogram h;
    CHECK(h.percentile(0.5) == 0);
    for (uint64_t v : {5, 6, 7, 100, 1000}) h.add(v);
    CHECK(h.count() == 5);
    CHECK(h.min() == 5);
    CHECK(h.max() == 1000);
    CHECK(h.sum() == 1118);
    CHECK(h.bucket(2) == 3); // 4..7
    CHECK(h.bucket(6) == 1); // 64..127
    CHECK(h.bucket(9) == 1); // 512..1023
}

TEST_CASE("percentiles lie in the bucket of the true value") {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(10.0, 1.5);
    std::vector<uint64_t> values;
    LatencyHistogram h;
    for (int i = 0; i < 20000; ++i) {
        auto v = static_cast<uint64_t>(dist(rng));
        values.push_back(v);
        h.add(v);
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
        uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(values.size())));
        uint64_t truth = values[rank - 1];
        uint64_t est = h.percentile(q);
        CAPTURE(q);
        CAPTURE(truth);
        CAPTURE(est);
        CHECK(LatencyHistogram::bucket_of(est) == LatencyHistogram::bucket_of(truth));
        // Within the bucket: less than a factor of two either way.
        CHECK(est < 2 * truth + 2);
        CHECK(truth < 2 * est + 2);
    }
    CHECK(h.percentile(1.0) == values.back());
}

TEST_CASE("a single value is its own percentile") {
    LatencyHistogram h;
    h.add(1500);
    CHECK(h.percentile(0.5) == 1500);
    CHECK(h.percentile(0.99) == 1500);
}

TEST_CASE("percentile picks the right bucket for skewed data") {
    LatencyHistogram h;
    for (int i = 0; i < 98; ++i) h.add(100);   // bucket 6
    for (int i = 0; i < 2; ++i) h.add(100000); // bucket 16
    CHECK(LatencyHistogram::bucket_of(h.percentile(0.5)) == 6);
    CHECK(LatencyHistogram::bucket_of(h.percentile(0.98)) == 6);
    CHECK(LatencyHistogram::bucket_of(h.percentile(0.99)) == 16);
}

TEST_CASE("merge and JSON round trip") {
    LatencyHistogram a, b;
    for (uint64_t v = 1; v < 5000; v += 7) a.add(v);
    for (uint64_t v = 3; v < 90000; v += 311) b.add(v);
    LatencyHistogram m = a;
    m.merge(b);
    CHECK(m.count() == a.count() + b.count());
    CHECK(m.min() == 1);
    CHECK(m.max() == b.max());
    auto back = LatencyHistogram::from_json(m.to_json());
    REQUIRE(back.ok());
    CHECK(back->count() == m.count());
    CHECK(back->sum() == m.sum());
    CHECK(back->min() == m.min());
    CHECK(back->max() == m.max());
    for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) CHECK(back->bucket(i) == m.bucket(i));
    CHECK(back->percentile(0.99) == m.percentile(0.99));
}

TEST_CASE("damaged histogram JSON is refused") {
    using rpc::json;
    CHECK_FALSE(LatencyHistogram::from_json(json::array()).ok());
    CHECK_FALSE(LatencyHistogram::from_json(json{{"buckets", {{3, 1}}}}).ok()); // 3 is no bucket bound
    CHECK_FALSE(LatencyHistogram::from_json(json{{"buckets", {{4, 1}}}, {"count", 2}}).ok());
    CHECK_FALSE(LatencyHistogram::from_json(json{{"buckets", {{4}}}}).ok());
    CHECK(LatencyHistogram::from_json(json{{"buckets", json::array()}})->count() == 0);
}
