// The small pure helpers: default socket, where probed is found, tables.
#include "client/daemon_launcher.h"
#include "client/process_names.h"
#include "client/socket_path.h"
#include "client/text_table.h"

#include <doctest/doctest.h>
#include <unistd.h>

using namespace probed::client;

TEST_CASE("the default socket follows the documented order") {
    SocketEnvironment env;
    env.probed_socket = "/tmp/mine.sock";
    env.xdg_runtime_dir = "/run/user/1000";
    env.root = true;
    CHECK(default_socket_path(env) == "/tmp/mine.sock");
    env.probed_socket.reset();
    CHECK(default_socket_path(env) == "/run/probed/probed.sock");
    env.root = false;
    CHECK(default_socket_path(env) == "/run/user/1000/probed.sock");
    env.xdg_runtime_dir.reset();
    CHECK_FALSE(default_socket_path(env));
    env.probed_socket = "";
    CHECK_FALSE(default_socket_path(env));
}

TEST_CASE("probed is looked for in the build tree, then next to probectl") {
    auto c = probed_candidates("/work/build/client/probectl");
    REQUIRE(c.size() == 3);
    CHECK(c[0] == "/work/build/daemon/probed");
    CHECK(c[1] == "/work/build/client/probed");
    CHECK(probed_candidates("/usr/bin/probectl")[1] == "/usr/bin/probed");
    CHECK(probed_candidates("/usr/bin/probectl")[2] == "/usr/sbin/probed");
    CHECK(probed_candidates("").empty());
}

TEST_CASE("tables align columns to their widest cell") {
    TextTable t({"PID", "COMM"});
    t.add_row({"12345", "x"});
    t.add_row({"7", "longname"});
    CHECK(t.render() == "PID    COMM\n12345  x\n7      longname\n");
}

TEST_CASE("process names come from /proc once and survive the process") {
    ProcessNames names;
    const std::string& own = names.name_of(getpid());
    CHECK(own.find("unit_probectl") == 0); // comm is cut at 15 bytes
    names.remember(999999999, "ghost");
    CHECK(names.name_of(999999999) == "ghost");
    CHECK(names.name_of(999999998) == "?");
}
