#include "daemon/event_json.h"

#include <doctest/doctest.h>

using namespace probed;

namespace {

CallEvent sample(EventType type) {
    CallEvent ev;
    ev.type = type;
    ev.probe_id = 3;
    ev.pid = 4242;
    ev.tid = 4243;
    ev.function = "ns::f(char const*)";
    ev.address = 0x55d0c6a3b1c0;
    ev.ts_ns = 123456789012345ull;
    ev.args = {7, 1, ~0ull, 0, 0, 42};
    return ev;
}

// The fast line must say exactly what the JSON tree says.
void check_same(const CallEvent& ev) {
    std::string line = event_notification_line(ev);
    REQUIRE(!line.empty());
    CHECK(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    auto parsed = rpc::json::parse(line);
    CHECK(parsed == rpc::notification("event", event_to_json(ev)));
}

} // namespace

TEST_CASE("fast event lines equal the JSON tree encoding") {
    check_same(sample(EventType::Entry));

    CallEvent ret = sample(EventType::Return);
    ret.duration_ns = 1840;
    ret.exit = ExitKind::Return;
    ret.retval = 0xffffffffffffffffull;
    check_same(ret);

    CallEvent jumped = sample(EventType::Return);
    jumped.duration_ns = 5;
    jumped.exit = ExitKind::Longjmp;
    check_same(jumped);

    CallEvent odd = sample(EventType::Return);
    odd.function = "quote\" back\\slash \x01 tab\t";
    odd.exit = ExitKind::Detach;
    odd.args.clear();
    check_same(odd);

    CallEvent exit_ev;
    exit_ev.type = EventType::Exit;
    exit_ev.pid = 9;
    exit_ev.exit_status = 3 << 8;
    check_same(exit_ev);
    CHECK(event_to_json(exit_ev)["exit_code"] == 3);
}

TEST_CASE("a captured stack: frames with pc as hex, optional source and trampoline fields") {
    auto trace = std::make_shared<StackTrace>();
    StackFrame top;
    top.pc = 0x401000;
    top.module = "/bin/prog";
    top.function = "deep::dive(long)";
    top.offset = 0;
    top.file = "prog.cpp";
    top.line = 12;
    StackFrame caller;
    caller.pc = 0x401080;
    caller.module = "/bin/prog";
    caller.function = "main";
    caller.offset = 0x20;
    caller.via_trampoline = true;
    trace->frames = {top, caller};

    CallEvent ev = sample(EventType::Entry);
    ev.stack = trace;
    check_same(ev);
    rpc::json j = event_to_json(ev);
    REQUIRE(j["stack"].size() == 2);
    CHECK(j["stack"][0] == rpc::json{{"pc", "0x401000"}, {"module", "/bin/prog"},
                                     {"function", "deep::dive(long)"}, {"offset", 0},
                                     {"file", "prog.cpp"}, {"line", 12}});
    CHECK(j["stack"][1] == rpc::json{{"pc", "0x401080"}, {"module", "/bin/prog"},
                                     {"function", "main"}, {"offset", 0x20},
                                     {"via_trampoline", true}});
    // Events without a captured stack have no field at all.
    CHECK_FALSE(event_to_json(sample(EventType::Entry)).contains("stack"));
}
