#include <doctest/doctest.h>

#include "daemon/collection.h"
#include "daemon/collector.h"
#include "temp_dir.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace probed;
using probed::test::TempDir;
using rpc::json;

namespace {

CollectSpec spec_with(const std::string& name, const char* error_if, RetvalType type = RetvalType::Long) {
    CollectSpec s;
    s.name = name;
    s.type = type;
    if (error_if) s.error_if = *RetvalPredicate::parse(error_if);
    return s;
}

CallEvent call(uint64_t probe, int64_t retval, uint64_t duration, uint64_t ts = 1000) {
    CallEvent e;
    e.type = EventType::Return;
    e.probe_id = probe;
    e.pid = 77;
    e.tid = 78;
    e.function = std::string("f");
    e.ts_ns = ts;
    e.args = {1, 2};
    e.retval = static_cast<uint64_t>(retval);
    e.duration_ns = duration;
    e.exit = ExitKind::Return;
    return e;
}

std::vector<json> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<json> out;
    std::string l;
    while (std::getline(in, l)) out.push_back(json::parse(l));
    return out;
}

} // namespace

TEST_CASE("aggregates count calls, errors, abnormal exits and values") {
    CallAggregates a;
    CollectSpec s = spec_with("x", "< 0", RetvalType::Int);
    CHECK(a.add(call(1, -1, 100), s, 5));
    CHECK_FALSE(a.add(call(1, 0, 200), s, 6));
    CHECK(a.add(call(1, 0x00000000ffffffffll, 300), s, 7)); // int -1 in eax: an error
    CallEvent lj = call(1, 0, 400);
    lj.exit = ExitKind::Longjmp;
    lj.retval.reset();
    CHECK_FALSE(a.add(lj, s, 8));
    CHECK(a.calls == 4);
    CHECK(a.returns == 3);
    CHECK(a.errors == 2);
    CHECK(a.abnormal.at("longjmp") == 1);
    CHECK(a.latency.count() == 4);
    auto top = a.top.top(5);
    REQUIRE(top.size() == 2);
    CHECK(top[0].value == -1);
    CHECK(top[0].count == 2);
    CHECK(a.first_ns == 5);
    CHECK(a.last_ns == 8);
    json j = a.to_json(s);
    CHECK(j["latency_ns"]["p50"].get<uint64_t>() >= 128);
    CHECK(j["latency_ns"]["mean"] == 250);
}

TEST_CASE("a collection writes call lines and survives a reload") {
    TempDir tmp;
    RotationPolicy p;
    {
        Collection c(tmp / "app.open", spec_with("app.open", "== -1", RetvalType::Int), p);
        REQUIRE(c.record(call(3, -1, 1500), 111).ok());
        REQUIRE(c.record(call(3, 5, 900), 222).ok());
        c.add_dropped(4);
        REQUIRE(c.flush().ok());
        REQUIRE(c.save().ok());
    }
    auto lines = read_lines(tmp / "app.open/calls.jsonl");
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["retval"] == -1);
    CHECK(lines[0]["error"] == true);
    CHECK(lines[0]["time_ns"] == 111);
    CHECK(lines[0]["collection"] == "app.open");
    CHECK(lines[0]["duration_ns"] == 1500);
    CHECK(lines[0]["args"] == json::array({1, 2}));
    CHECK(lines[1]["retval"] == 5);
    CHECK(lines[1]["error"] == false);

    auto back = Collection::load(tmp / "app.open", p);
    REQUIRE(back.ok());
    CHECK(back->spec().name == "app.open");
    CHECK(back->spec().type == RetvalType::Int);
    CHECK(back->spec().error_if_text() == "== -1");
    CHECK(back->aggregates().calls == 2);
    CHECK(back->aggregates().errors == 1);
    CHECK(back->aggregates().dropped == 4);
    CHECK(back->aggregates().latency.max() == 1500);
    // Appends continue the same file after a reload.
    REQUIRE(back->record(call(9, -1, 10), 333).ok());
    REQUIRE(back->flush().ok());
    CHECK(read_lines(tmp / "app.open/calls.jsonl").size() == 3);
    CHECK(back->aggregates().errors == 2);
}

TEST_CASE("a damaged stats.json is set aside, not trusted") {
    TempDir tmp;
    std::filesystem::create_directories(tmp / "c");
    std::ofstream(tmp / "c/stats.json") << "{\"aggregates\": {\"calls\": -3}}";
    auto c = Collection::load(tmp / "c", {});
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().message.find("calls") != std::string::npos);
    CHECK(std::filesystem::exists(tmp / "c/stats.json.bad"));
    CHECK_FALSE(std::filesystem::exists(tmp / "c/stats.json"));
}

TEST_CASE("the collector routes offered events to collections, off the caller's thread") {
    TempDir tmp;
    EventQueue daemon_queue(16);
    CollectorOptions opt;
    opt.state_dir = tmp / "state";
    {
        Collector col(daemon_queue, opt);
        REQUIRE(col.start().ok());
        col.collect_probe(1, 77, spec_with("a", "!= 0"));
        for (int i = 0; i < 100; ++i) col.offer(call(1, i % 4, 1000 + i));
        col.offer(call(2, 0, 5)); // not collected: ignored
        CallEvent entry = call(1, 0, 0);
        entry.type = EventType::Entry; // only completed calls are collected
        col.offer(entry);
        col.stop();
        json st = col.stats(std::nullopt);
        REQUIRE(st["collections"].size() == 1);
        json a = st["collections"][0];
        CHECK(a["name"] == "a");
        CHECK(a["calls"] == 100);
        CHECK(a["errors"] == 75);
        CHECK(a["error_if"] == "!= 0");
        CHECK(a["probe_ids"] == json::array({1}));
        CHECK(col.collection_of(1) == "a");
        CHECK_FALSE(col.collection_of(2));
    }
    CHECK(read_lines(tmp / "state/a/calls.jsonl").size() == 100);
    // A new collector (a daemon restart) starts from what was saved.
    Collector again(daemon_queue, opt);
    REQUIRE(again.start().ok());
    json st = again.stats(std::string("a"));
    REQUIRE(st["collections"].size() == 1);
    CHECK(st["collections"][0]["calls"] == 100);
    CHECK(st["collections"][0]["probe_ids"].empty());
    again.stop();
}

TEST_CASE("events the daemon's queue dropped are counted against the collection") {
    TempDir tmp;
    EventQueue daemon_queue(1);
    CollectorOptions opt;
    opt.state_dir = tmp.path();
    Collector col(daemon_queue, opt);
    REQUIRE(col.start().ok());
    col.collect_probe(5, 77, spec_with("b", nullptr));
    for (int i = 0; i < 4; ++i) daemon_queue.push(call(5, 0, 1)); // 1 fits, 3 dropped
    col.stop();
    CHECK(col.stats(std::nullopt)["collections"][0]["dropped"] == 3);
}
