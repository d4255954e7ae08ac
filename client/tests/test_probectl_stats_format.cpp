#include <doctest/doctest.h>

#include "client/stats_format.h"

#include <string>

using namespace probed::client;
using nlohmann::json;

namespace {

std::size_t count_of(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size()))
        ++n;
    return n;
}

} // namespace

TEST_CASE("durations read naturally") {
    CHECK(format_duration_ns(850) == "850ns");
    CHECK(format_duration_ns(1500) == "1.50us");
    CHECK(format_duration_ns(25900) == "25.9us");
    CHECK(format_duration_ns(1200000) == "1.20ms");
    CHECK(format_duration_ns(2500000000ull) == "2.50s");
}

TEST_CASE("bars scale to the widest bucket in eighths") {
    CHECK(histogram_bar(1.0, 4) == "████");
    CHECK(histogram_bar(0.5, 4) == "██  ");
    CHECK(histogram_bar(0.0, 2) == "  ");
    CHECK(histogram_bar(0.0001, 2) == "▏ "); // never invisible when non-empty
    CHECK(histogram_bar(1.0 / 16, 4) == "▎   ");
}

TEST_CASE("a collection prints counts, top values and one bar per bucket") {
    json r = json::parse(R"({"collections":[{"name":"app.open","error_if":"== -1","retval_type":"int",
        "probe_ids":[3],"pids":[77],"calls":10,"returns":10,"errors":4,"dropped":0,"abnormal":{"longjmp":1},
        "first_ns":0,"last_ns":0,
        "top_values":[{"value":-1,"count":4,"error":0},{"value":3,"count":6,"error":0}],
        "latency_ns":{"histogram":{"buckets":[[1024,8],[4096,2]],"count":10,"min":1100,"max":5000,"sum":20000},
                      "p50":1500,"p99":4900,"mean":2000,"min":1100,"max":5000},
        "dir":"/var/lib/probed/app.open"}],"queue":{"dropped":5}})");
    std::string out = format_stats(r, 8);
    CAPTURE(out);
    CHECK(out.find("app.open  (error if retval == -1, retval int, probe 3 in pid 77)") == 0);
    CHECK(out.find("errors 4 (40.0%)") != std::string::npos);
    CHECK(out.find("abnormal exits: longjmp 1") != std::string::npos);
    CHECK(out.find("p50 ~1.50us   p99 ~4.90us") != std::string::npos);
    CHECK(out.find("          -1           4 (40.0%)") != std::string::npos);
    // 1024, 2048 (empty, still drawn), 4096: three rows.
    CHECK(out.find("1.02us ..   2.05us |████████  8") != std::string::npos);
    CHECK(out.find("2.05us ..   4.10us |          0") != std::string::npos);
    CHECK(out.find("4.10us ..   8.19us |██        2") != std::string::npos);
    CHECK(count_of(out, " |") == 3);
    CHECK(out.find("collector queue dropped 5") != std::string::npos);
}

TEST_CASE("nothing collected says so") {
    CHECK(format_stats(json{{"collections", json::array()}}).find("nothing collected") == 0);
    CHECK(format_stats(json("garbage")).find("nothing collected") == 0);
}
