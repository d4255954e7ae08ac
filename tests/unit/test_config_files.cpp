#include <doctest/doctest.h>

#include "daemon/daemon_config.h"
#include "daemon/json_positions.h"
#include "daemon/probe_config.h"
#include "temp_dir.h"

#include <fstream>
#include <variant>

using namespace probed;
using probed::test::TempDir;

namespace {

ConfigError probe_file_error(const std::string& text) {
    auto r = parse_probe_file("/etc/probed/probes.d/app.json", text);
    REQUIRE_MESSAGE(std::holds_alternative<ConfigError>(r), text);
    return std::get<ConfigError>(r);
}

ProbeFile probe_file(const std::string& text) {
    auto r = parse_probe_file("/etc/probed/probes.d/app.json", text);
    if (auto* e = std::get_if<ConfigError>(&r)) FAIL(e->text());
    return std::get<ProbeFile>(r);
}

} // namespace

TEST_CASE("probed.conf: settings, units, comments") {
    auto c = parse_daemon_config("# probed settings\n"
                                 "state_dir = /srv/probed   # trailing comment\n"
                                 "\n"
                                 "rotate_size = 4M\n"
                                 "retain_files=3\n"
                                 "retain_size = 1G\n"
                                 "scan_interval = 500ms\n"
                                 "log_level = \"debug\"\n",
                                 "probed.conf");
    REQUIRE(c.ok());
    CHECK(c->state_dir == "/srv/probed");
    CHECK(c->rotate_size == 4ull << 20);
    CHECK(c->retain_files == 3);
    CHECK(c->retain_size == 1ull << 30);
    CHECK(c->scan_interval_ms == 500);
    CHECK(c->log_level == "debug");
    CHECK_FALSE(c->queue);
    CHECK(parse_interval_ms("2s") == 2000);
    CHECK(parse_interval_ms("15") == 15);
    CHECK_FALSE(parse_size("12X"));
    CHECK_FALSE(parse_size("M"));
}

TEST_CASE("probed.conf: every error names the file and line") {
    auto err = [](const std::string& text) {
        auto c = parse_daemon_config(text, "/etc/probed/probed.conf");
        REQUIRE_FALSE(c.ok());
        return c.error().message;
    };
    CHECK(err("state_dir = /a\nbogus = 1\n") ==
          "/etc/probed/probed.conf:2: unknown setting 'bogus' (known: socket, log_level, state_dir, probes_dir, "
          "queue, collect_queue, rotate_size, retain_files, retain_size, scan_interval)");
    CHECK(err("\n\nrotate_size 5\n") == "/etc/probed/probed.conf:3: expected 'key = value', got 'rotate_size 5'");
    CHECK(err("rotate_size = lots\n").find("probed.conf:1: 'rotate_size' must be a size") != std::string::npos);
    CHECK(err("queue = 0\n").find(":1: 'queue' must be a positive number") != std::string::npos);
    CHECK(err("queue = -5\n").find(":1:") != std::string::npos);
    CHECK(err("log_level = loud\n").find(":1: 'log_level' must be one of") != std::string::npos);
    CHECK(err("retain_files = 2\nretain_files = 3\n").find(":2: 'retain_files' is set twice") != std::string::npos);
    CHECK(err("state_dir =\n").find(":1: 'state_dir' needs a path") != std::string::npos);
    CHECK(err(" = 4\n").find(":1: missing key") != std::string::npos);
    CHECK_FALSE(load_daemon_config("/nonexistent/probed.conf").ok());
}

TEST_CASE("probes.d: a complete file") {
    ProbeFile f = probe_file(R"({
  // resolver failures in nginx
  "select": {"unit": "nginx"},
  "probes": [
    {"name": "gai", "target": "libc:getaddrinfo", "capture": {"args": 2},
     "collect": {"error_if": "!= 0", "retval": "int"}},
    {"target": "libc:open", "kind": "call"}
  ]
})");
    CHECK(f.select.kind == ProcessSelector::Kind::Unit);
    CHECK(f.select.value == "nginx.service");
    REQUIRE(f.probes.size() == 2);
    CHECK(f.probes[0].name == "gai");
    CHECK(f.probes[0].capture.args == 2);
    CHECK(f.probes[0].collect.name == "app.gai");
    CHECK(f.probes[0].collect.type == RetvalType::Int);
    CHECK(f.probes[0].collect.error_if_text() == "!= 0");
    CHECK(f.probes[1].name == "libc_open");
    CHECK(f.probes[1].collect.name == "app.libc_open");
    CHECK(f.probes[1].kind == ProbeKind::Call);
    CHECK_FALSE(f.probes[1].collect.error_if);
    // Identity changes with any setting, not with formatting.
    ProbeFile g = probe_file(R"({"select": {"unit": "nginx"}, "probes": [
        {"name": "gai", "target": "libc:getaddrinfo", "capture": {"args": 2}, "collect": {"retval": "int", "error_if": "!=0"}},
        {"target": "libc:open", "kind": "call", "collect": {"error_if": "< 0"}}]})");
    CHECK(g.probes[0].identity == f.probes[0].identity);
    CHECK(g.probes[1].identity != f.probes[1].identity);
}

TEST_CASE("probes.d: selectors") {
    CHECK(probe_file(R"({"select": {"pid": 42}, "probes": [{"target": "f"}]})").select.pid == 42);
    CHECK(probe_file(R"({"select": {"exe": "/usr/bin/x"}, "probes": [{"target": "f"}]})").select.kind ==
          ProcessSelector::Kind::Exe);
    CHECK(probe_file(R"({"select": {"comm": "x"}, "probes": [{"target": "f"}]})").select.kind ==
          ProcessSelector::Kind::Comm);
    CHECK(probe_file(R"({"select": {"unit": "a.socket"}, "probes": [{"target": "f"}]})").select.value == "a.socket");
}

TEST_CASE("probes.d: syntax errors give line and column") {
    ConfigError e = probe_file_error("{\n  \"select\": {\"comm\": \"x\"},\n  \"probes\": [\n    {\"target\": \"f\",}\n  ]\n}\n");
    CHECK(e.line == 4);
    CHECK(e.column == 20); // the stray "}"
    CHECK(e.text().find("/etc/probed/probes.d/app.json:4:20: invalid JSON: syntax error") == 0);
    ConfigError eof = probe_file_error("{\n  \"select\": {\"comm\": \"x\"}\n");
    CHECK(eof.line == 3);
}

TEST_CASE("probes.d: semantic errors name the line of the offending value") {
    const char* text = R"({
  "select": {"comm": "x"},
  "probes": [
    {"target": "ok"},
    {"target": "bad",
     "collect": {
        "error_if": "=< 0"
     }}
  ]
})";
    ConfigError e = probe_file_error(text);
    CHECK(e.line == 7);
    CHECK(e.text().find("/etc/probed/probes.d/app.json:7:1: probes[1].collect.error_if: bad error predicate '=< 0'") == 0);

    CHECK(probe_file_error("{\"select\": {\"comm\": \"x\"},\n \"probes\": []}").line == 2);
    CHECK(probe_file_error("{\"probes\": [{\"target\": \"f\"}]}").message.find("missing 'select'") == 0);
    ConfigError two = probe_file_error("{\"select\": {\"comm\": \"x\", \"pid\": 3},\n\"probes\": [{\"target\": \"f\"}]}");
    CHECK(two.line == 1);
    CHECK(two.message.find("exactly one of") != std::string::npos);
    ConfigError unknown = probe_file_error("{\"select\": {\"comm\": \"x\"},\n\"probes\": [\n{\"target\": \"f\",\n \"colect\": {}}]}");
    CHECK(unknown.line == 4);
    CHECK(unknown.message.find("probes[0].colect: unknown field 'colect'") == 0);
    CHECK(probe_file_error("{\"select\": {\"exe\": \"bin/x\"}, \"probes\": [{\"target\": \"f\"}]}").message.find(
              "absolute path") != std::string::npos);
    CHECK(probe_file_error("{\"select\": {\"comm\": \"x\"}, \"probes\": [{\"target\": \"f\"}, {\"target\": \"f\"}]}")
              .message.find("a second probe named 'f'") != std::string::npos);
    CHECK(probe_file_error("{\"select\": {\"comm\": \"x\"}, \"probes\": [{\"target\": \"f\", \"kind\": \"entry\"}]}")
              .message.find("'kind' must be") != std::string::npos);
    CHECK(probe_file_error("{\"select\": {\"comm\": \"x\"}, \"probes\": [{\"target\": \"f\", \"collect\": {\"retval\": \"short\"}}]}")
              .message.find("bad return type 'short'") != std::string::npos);
}

TEST_CASE("probes.d directory: good files load, bad ones are reported beside them") {
    TempDir tmp;
    std::ofstream(tmp / "a.json") << R"({"select": {"comm": "x"}, "probes": [{"target": "f"}]})";
    std::ofstream(tmp / "b.json") << "{\n\"select\": {\"comm\": \"y\"},\n\"probes\": [{\"target\": 5}]\n}";
    std::ofstream(tmp / "notes.txt") << "ignored";
    ProbesDir d = load_probes_dir(tmp.path());
    REQUIRE(d.files.size() == 1);
    CHECK(d.files[0].path == tmp / "a.json");
    REQUIRE(d.errors.size() == 1);
    CHECK(d.errors[0].text().find(tmp / "b.json" + ":3:1: probes[0].target:") == 0);
    CHECK(load_probes_dir(tmp / "missing").files.empty());
    CHECK(load_probes_dir(tmp / "missing").errors.empty());
}

TEST_CASE("JSON positions and paths") {
    JsonPositions p("{\"a\": 1,\n \"b\": [\n 10,\n 20]}");
    CHECK(p.line_of("/a") == 1);
    CHECK(p.line_of("/b") == 2);
    CHECK(p.line_of("/b/1") == 4);
    CHECK(p.line_of("/b/7") == 2); // missing: its parent
    CHECK(pointer_to_path("/probes/3/collect/error_if") == "probes[3].collect.error_if");
    CHECK(JsonPositions::line_col("ab\ncd", 4) == std::pair{2, 2});
}
