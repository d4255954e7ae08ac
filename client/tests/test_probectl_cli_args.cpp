#include "client/cli_args.h"

#include <doctest/doctest.h>

using namespace probed::client;

namespace {

struct Parsed {
    bool ok;
    std::string error;
    CliArgs args;
};

Parsed parse(std::vector<std::string> argv) {
    Parsed p;
    auto r = parse_cli(argv, p.args);
    p.ok = r.ok();
    if (!r)
        p.error = r.error().message;
    return p;
}

} // namespace

TEST_CASE("attach takes a pid and functions, with defaults") {
    auto p = parse({"attach", "1234", "work", "libc:getpid"});
    REQUIRE(p.ok);
    CHECK(p.args.command == Command::Attach);
    CHECK(p.args.pid == 1234);
    CHECK(p.args.functions == std::vector<std::string>{"work", "libc:getpid"});
    CHECK(p.args.trace.args == 6);
    CHECK(p.args.trace.kind == ProbeKind::Return);
    CHECK_FALSE(p.args.trace.count);
    CHECK_FALSE(p.args.trace.duration_s);
    CHECK_FALSE(p.args.trace.float_retval);
    CHECK_FALSE(p.args.json);
    CHECK_FALSE(p.args.socket);
}

TEST_CASE("global options go before or after the subcommand") {
    auto before = parse({"--socket", "/tmp/s.sock", "--json", "--no-autostart", "list"});
    REQUIRE(before.ok);
    CHECK(before.args.command == Command::List);
    CHECK(before.args.socket == "/tmp/s.sock");
    CHECK(before.args.json);
    CHECK(before.args.no_autostart);

    auto after = parse({"status", "--socket=/x.sock", "--json"});
    REQUIRE(after.ok);
    CHECK(after.args.command == Command::Status);
    CHECK(after.args.socket == "/x.sock");
    CHECK(after.args.json);

    auto mixed =
        parse({"attach", "--count", "3", "42", "--json", "work", "--kind=call", "--float"});
    REQUIRE(mixed.ok);
    CHECK(mixed.args.pid == 42);
    CHECK(mixed.args.functions == std::vector<std::string>{"work"});
    CHECK(mixed.args.trace.count == 3u);
    CHECK(mixed.args.trace.kind == ProbeKind::Call);
    CHECK(mixed.args.trace.float_retval);
    CHECK(mixed.args.json);
}

TEST_CASE("trace options parse their values") {
    auto p = parse({"attach", "1", "f", "--duration", "2.5", "--args", "0", "--kind", "entry"});
    REQUIRE(p.ok);
    CHECK(p.args.trace.duration_s == doctest::Approx(2.5));
    CHECK(p.args.trace.args == 0);
    CHECK(p.args.trace.kind == ProbeKind::Entry);
    CHECK(parse({"attach", "1", "f", "--args=6"}).args.trace.args == 6);
}

TEST_CASE("bad numbers are usage errors") {
    CHECK_FALSE(parse({"attach", "12x", "work"}).ok);
    CHECK_FALSE(parse({"attach", "0", "work"}).ok);
    CHECK_FALSE(parse({"attach", "-5", "work"}).ok);
    CHECK_FALSE(parse({"attach", "99999999999", "work"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--count", "0"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--count", "-1"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--count", "3x"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--count", ""}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--duration", "abc"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--duration", "0"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--duration", "inf"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--duration", "nan"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--args", "7"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--args", "-1"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--kind", "exit"}).ok);
    CHECK_FALSE(parse({"stack", "1", "tid"}).ok);
    CHECK_FALSE(parse({"stats", "x/y"}).ok);
    CHECK_FALSE(parse({"stats", "-3"}).ok);
    CHECK_FALSE(parse({"stats", "3x"}).ok);
    CHECK(parse({"attach", "1", "work", "--count", "x"}).error.find("count") != std::string::npos);
}

TEST_CASE("missing arguments and values are usage errors") {
    CHECK_FALSE(parse({}).ok);
    CHECK_FALSE(parse({"attach"}).ok);
    CHECK_FALSE(parse({"attach", "123"}).ok);
    CHECK_FALSE(parse({"run"}).ok);
    CHECK_FALSE(parse({"run", "-p", "work"}).ok);
    CHECK_FALSE(parse({"detach"}).ok);
    CHECK_FALSE(parse({"stack"}).ok);
    CHECK_FALSE(parse({"call"}).ok);
    CHECK_FALSE(parse({"list", "--socket"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "--count"}).ok);
    CHECK_FALSE(parse({"run", "-p"}).ok);
}

TEST_CASE("unknown commands, options and extra arguments are usage errors") {
    auto unknown = parse({"frobnicate"});
    CHECK_FALSE(unknown.ok);
    CHECK(unknown.error.find("frobnicate") != std::string::npos);
    CHECK_FALSE(parse({"list", "--verbose"}).ok);
    CHECK_FALSE(parse({"list", "extra"}).ok);
    CHECK_FALSE(parse({"status", "1"}).ok);
    CHECK_FALSE(parse({"detach", "1", "2"}).ok);
    CHECK_FALSE(parse({"stack", "1", "2", "3"}).ok);
    CHECK_FALSE(parse({"--json=yes", "list"}).ok);
}

TEST_CASE("trace options belong to attach and run, -p to run") {
    CHECK_FALSE(parse({"list", "--count", "3"}).ok);
    CHECK_FALSE(parse({"--float", "status"}).ok);
    CHECK_FALSE(parse({"attach", "1", "work", "-p", "other"}).ok);
    auto before = parse({"--count", "2", "attach", "1", "work"});
    REQUIRE(before.ok);
    CHECK(before.args.trace.count == 2u);
}

TEST_CASE("a failed parse still names the subcommand for its usage") {
    auto p = parse({"attach", "x", "work"});
    CHECK_FALSE(p.ok);
    CHECK(p.args.command == Command::Attach);
}

TEST_CASE("run collects -p probes and the command line") {
    auto p = parse(
        {"run", "-p", "work", "--probe", "halve", "-pdeep", "--count", "5", "./prog", "a", "b"});
    REQUIRE(p.ok);
    CHECK(p.args.command == Command::Run);
    CHECK(p.args.functions == std::vector<std::string>{"work", "halve", "deep"});
    CHECK(p.args.argv == std::vector<std::string>{"./prog", "a", "b"});
    CHECK(p.args.trace.count == 5u);
}

TEST_CASE("run: everything after CMD belongs to CMD") {
    auto p = parse({"run", "ls", "-l", "--json", "--help"});
    REQUIRE(p.ok);
    CHECK(p.args.argv == std::vector<std::string>{"ls", "-l", "--json", "--help"});
    CHECK_FALSE(p.args.json);
    CHECK_FALSE(p.args.help);
}

TEST_CASE("-- ends the options") {
    auto p = parse({"--json", "run", "-p", "work", "--", "--weird-name", "-x"});
    REQUIRE(p.ok);
    CHECK(p.args.json);
    CHECK(p.args.argv == std::vector<std::string>{"--weird-name", "-x"});
    CHECK(p.args.functions == std::vector<std::string>{"work"});

    auto attach = parse({"attach", "--", "7", "-odd"});
    REQUIRE(attach.ok);
    CHECK(attach.args.functions == std::vector<std::string>{"-odd"});
}

TEST_CASE("--help anywhere asks for the subcommand's help") {
    auto p = parse({"attach", "--help"});
    REQUIRE(p.ok);
    CHECK(p.args.help);
    CHECK(p.args.command == Command::Attach);
    auto bare = parse({"-h"});
    REQUIRE(bare.ok);
    CHECK(bare.args.help);
    CHECK(bare.args.command == Command::None);
    auto topic = parse({"help", "run"});
    REQUIRE(topic.ok);
    CHECK(topic.args.command == Command::Help);
    CHECK(topic.args.help_topic == Command::Run);
    CHECK_FALSE(parse({"help", "nonsense"}).ok);
}

TEST_CASE("detach, stack and stats take ids") {
    auto d = parse({"detach", "77"});
    REQUIRE(d.ok);
    CHECK(d.args.pid == 77);
    auto s = parse({"stack", "77", "78"});
    REQUIRE(s.ok);
    CHECK(s.args.pid == 77);
    CHECK(s.args.tid == 78);
    CHECK_FALSE(parse({"stack", "77"}).args.tid);
    auto st = parse({"stats", "3"});
    REQUIRE(st.ok);
    CHECK(st.args.probe_id == 3);
    CHECK_FALSE(parse({"stats"}).args.probe_id);
    auto named = parse({"stats", "nginx.getaddrinfo"});
    REQUIRE(named.ok);
    CHECK(named.args.collection == "nginx.getaddrinfo");
    CHECK_FALSE(named.args.probe_id);
}

TEST_CASE("call takes a method and optional JSON params") {
    auto p = parse({"call", "probe.add", R"({"pid": 5, "target": "work"})"});
    REQUIRE(p.ok);
    CHECK(p.args.method == "probe.add");
    CHECK(p.args.params["pid"] == 5);
    auto bare = parse({"call", "daemon.status"});
    REQUIRE(bare.ok);
    CHECK(bare.args.params == nlohmann::json::object());
    auto bad = parse({"call", "probe.add", "{pid: 5"});
    CHECK_FALSE(bad.ok);
    CHECK(bad.args.command == Command::Call);
}
