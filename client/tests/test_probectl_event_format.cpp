#include "client/event_format.h"

#include <doctest/doctest.h>

using namespace probed::client;
using nlohmann::json;

namespace {

json return_event() {
    return json::parse(R"({"type":"return","probe_id":1,"pid":12345,"tid":12346,
        "function":"work","address":"0x55d0c6a3b1c0","ts_ns":123456789,"args":[7,1,0,0,0,0],
        "retval":22,"retval_hex":"0x16","duration_ns":1840,"exit":"return"})");
}

} // namespace

TEST_CASE("a completed call: pid, name, tid, args in hex, retval, duration") {
    CHECK(format_call_event(return_event(), "myprog", 2) ==
          "12345 myprog[12346] work(0x7, 0x1) = 22  <1.840 µs>");
    CHECK(format_call_event(return_event(), "myprog", 6) ==
          "12345 myprog[12346] work(0x7, 0x1, 0x0, 0x0, 0x0, 0x0) = 22  <1.840 µs>");
    CHECK(format_call_event(return_event(), "myprog", 0) ==
          "12345 myprog[12346] work() = 22  <1.840 µs>");
}

TEST_CASE("an entry") {
    json ev = return_event();
    ev["type"] = "entry";
    for (const char* k : {"retval", "retval_hex", "duration_ns", "exit"})
        ev.erase(k);
    CHECK(format_call_event(ev, "myprog", 2) == "12345 myprog[12346] → work(0x7, 0x1)");
}

TEST_CASE("abnormal exits say how the call ended, without a return value") {
    json ev = return_event();
    ev.erase("retval");
    ev.erase("retval_hex");
    ev["duration_ns"] = 2'100'000;
    ev["exit"] = "longjmp";
    CHECK(format_call_event(ev, "myprog", 1) ==
          "12345 myprog[12346] work(0x7) → longjmp  <2.100 ms>");
    ev["exit"] = "exception";
    CHECK(format_call_event(ev, "p", 1) == "12345 p[12346] work(0x7) → exception  <2.100 ms>");
    ev["exit"] = "detach";
    CHECK(format_call_event(ev, "p", 1) == "12345 p[12346] work(0x7) → detached  <2.100 ms>");
    ev["exit"] = "thread_exit";
    CHECK(format_call_event(ev, "p", 1) == "12345 p[12346] work(0x7) → thread exited  <2.100 ms>");
}

TEST_CASE("negative and large return values") {
    json ev = return_event();
    ev["retval"] = 18446744073709551615u; // -1 as the daemon sends it: unsigned
    ev["retval_hex"] = "0xffffffffffffffff";
    CHECK(format_call_event(ev, "p", 0) == "12345 p[12346] work() = -1  <1.840 µs>");
    ev.erase("retval_hex"); // exact even without the hex field
    CHECK(format_call_event(ev, "p", 0) == "12345 p[12346] work() = -1  <1.840 µs>");
    ev["retval"] = -22; // and if a daemon sends it signed
    CHECK(format_call_event(ev, "p", 0) == "12345 p[12346] work() = -22  <1.840 µs>");

    CHECK(format_retval(0) == "0");
    CHECK(format_retval(999999) == "999999");
    CHECK(format_retval(1000000) == "0xf4240");
    CHECK(format_retval(static_cast<std::uint64_t>(-999999)) == "-999999");
    CHECK(format_retval(static_cast<std::uint64_t>(-1000000)) == "0xfffffffffff0bdc0");
    CHECK(format_retval(0x55d0c6a3b1c0) == "0x55d0c6a3b1c0");
}

TEST_CASE("retval_hex wins over a number that lost precision") {
    json ev = return_event();
    ev["retval"] = 9007199254740992.0; // what a double-based encoder would send
    ev["retval_hex"] = "0x20000000000001";
    CHECK(format_call_event(ev, "p", 0) == "12345 p[12346] work() = 0x20000000000001  <1.840 µs>");
}

TEST_CASE("a captured floating-point return value") {
    json ev = return_event();
    ev["function"] = "halve";
    ev["args"] = {3};
    ev["float_retval"] = 1.5;
    CHECK(format_call_event(ev, "p", 1) == "12345 p[12346] halve(0x3) = 1.5  <1.840 µs>");
    CHECK(format_float(2.0) == "2.0");
    CHECK(format_float(-0.25) == "-0.25");
    CHECK(format_float(1e300) == "1e+300");
}

TEST_CASE("durations in each unit") {
    CHECK(format_duration(0) == "0 ns");
    CHECK(format_duration(840) == "840 ns");
    CHECK(format_duration(999) == "999 ns");
    CHECK(format_duration(1000) == "1.000 µs");
    CHECK(format_duration(1840) == "1.840 µs");
    CHECK(format_duration(999'999) == "999.999 µs");
    CHECK(format_duration(1'000'000) == "1.000 ms");
    CHECK(format_duration(2'100'000) == "2.100 ms");
    CHECK(format_duration(999'999'999) == "1.000 s");
    CHECK(format_duration(1'500'000'000) == "1.500 s");
    CHECK(format_duration(125'000'000'000) == "125.000 s");
}

TEST_CASE("missing fields degrade the line, not the client") {
    json ev = {{"type", "return"}, {"pid", 1}, {"tid", 1}, {"address", "0x10"}};
    CHECK(format_call_event(ev, "?", 6) == "1 ?[1] 0x10()");
    json odd = {{"type", "return"}, {"pid", "x"}, {"function", 5}, {"args", {"0x10", true}}};
    CHECK(format_call_event(odd, "p", 6) == "0 p[0] 5(0x10, true)");
}

TEST_CASE("dropped and exit notices") {
    CHECK(format_dropped({{"type", "dropped"}, {"probe_id", 3}, {"count", 17}}) ==
          "17 events of probe 3 dropped (not read fast enough)");
    CHECK(format_exit({{"type", "exit"}, {"pid", 12345}, {"status", 0}, {"exit_code", 3}},
                      "myprog") == "12345 myprog exited with code 3");
    CHECK(format_exit({{"type", "exit"}, {"pid", 12345}, {"signal", 9}}, "myprog") ==
          "12345 myprog killed by signal 9 (SIGKILL)");
    CHECK(format_probe_lost({{"type", "probe_lost"}, {"probe_id", 3}, {"function", "work"},
                             {"reason", "exec: pid 7 now runs /bin/true"}}) ==
          "probe 3 (work) lost: exec: pid 7 now runs /bin/true");
    CHECK(format_probe_lost({{"type", "probe_lost"}, {"probe_id", 4}}) ==
          "probe 4 lost: no reason given");
}
