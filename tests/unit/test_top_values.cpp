#include <doctest/doctest.h>

#include "daemon/top_values.h"

#include <map>
#include <set>
#include <random>

using namespace probed;

TEST_CASE("exact while fewer values than counters") {
    TopValues t(4);
    for (int i = 0; i < 10; ++i) t.add(0);
    for (int i = 0; i < 3; ++i) t.add(-2);
    t.add(7);
    auto top = t.top(10);
    REQUIRE(top.size() == 3);
    CHECK(top[0].value == 0);
    CHECK(top[0].count == 10);
    CHECK(top[1].value == -2);
    CHECK(top[1].count == 3);
    CHECK(top[2].value == 7);
    CHECK(top[2].error == 0);
    CHECK(t.top(1).size() == 1);
}

TEST_CASE("bounded: heavy hitters survive a long tail, with honest bounds") {
    // 3 frequent values among 5000 distinct rare ones.
    TopValues t(16);
    std::map<int64_t, uint64_t> truth;
    std::mt19937 rng(7);
    int64_t rare = 1000;
    for (int i = 0; i < 30000; ++i) {
        int64_t v;
        switch (rng() % 6) {
        case 0: v = 0; break;
        case 1: v = -1; break;
        case 2: v = -11; break;
        default: v = rare++ % 6000 + 1000;
        }
        t.add(v);
        ++truth[v];
    }
    CHECK(t.tracked() == 16);
    auto top = t.top(3);
    REQUIRE(top.size() == 3);
    std::set<int64_t> heavy;
    for (const auto& e : top) heavy.insert(e.value);
    CHECK(heavy == std::set<int64_t>{0, -1, -11});
    for (const auto& e : t.top(16)) {
        CAPTURE(e.value);
        CHECK(e.count >= truth[e.value]);
        CHECK(e.count - e.error <= truth[e.value]);
    }
}

TEST_CASE("JSON round trip keeps counts and bounds") {
    TopValues t(3);
    for (int64_t v : {1, 1, 1, 2, 2, 3, 4, 4, 4, 4}) t.add(v);
    auto back = TopValues::from_json(t.to_json(3), 3);
    REQUIRE(back.ok());
    auto a = t.top(3), b = back->top(3);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].value == b[i].value);
        CHECK(a[i].count == b[i].count);
        CHECK(a[i].error == b[i].error);
    }
    CHECK_FALSE(TopValues::from_json(rpc::json::object(), 3).ok());
    CHECK_FALSE(TopValues::from_json(rpc::json::array({{{"value", "x"}}}), 3).ok());
}
