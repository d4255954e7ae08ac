// The framing against a socketpair standing in for the daemon: replies are
// written before the call, which the socket buffer holds for us.
#include "client/rpc_connection.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

using namespace probed;
using namespace probed::client;
using nlohmann::json;

namespace {

struct Pair {
    RpcConnection client{UniqueFd()};
    UniqueFd daemon;

    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        client = RpcConnection(UniqueFd(fds[0]));
        daemon.reset(fds[1]);
    }

    void send(const std::string& text) const {
        REQUIRE(::write(daemon.get(), text.data(), text.size()) ==
                static_cast<ssize_t>(text.size()));
    }

    // Everything the client wrote so far, as lines.
    std::vector<json> requests() const {
        char buf[65536];
        ssize_t n = ::recv(daemon.get(), buf, sizeof buf, MSG_DONTWAIT);
        std::vector<json> out;
        std::string text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
        for (std::size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos;
             start = nl + 1)
            out.push_back(json::parse(text.substr(start, nl - start)));
        return out;
    }
};

} // namespace

TEST_CASE("requests are JSON-RPC 2.0 lines with increasing ids") {
    Pair p;
    p.send(R"({"jsonrpc":"2.0","id":1,"result":{"version":"0.1.0"}})"
           "\n");
    auto a = p.client.call("daemon.status");
    REQUIRE(a.ok());
    REQUIRE(a->ok());
    CHECK(a->result["version"] == "0.1.0");
    p.send(R"({"jsonrpc":"2.0","id":2,"result":{"processes":[]}})"
           "\n");
    auto b = p.client.call("process.list", {{"x", 1}});
    REQUIRE(b.ok());
    CHECK(b->result.contains("processes"));

    auto reqs = p.requests();
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0]["jsonrpc"] == "2.0");
    CHECK(reqs[0]["id"] == 1);
    CHECK(reqs[0]["method"] == "daemon.status");
    CHECK(reqs[0]["params"] == json::object());
    CHECK(reqs[1]["id"] == 2);
    CHECK(reqs[1]["params"]["x"] == 1);
}

TEST_CASE("events that arrive before a response are queued, in order") {
    Pair p;
    p.send(R"({"jsonrpc":"2.0","method":"event","params":{"type":"return","probe_id":1}})"
           "\n"
           R"({"jsonrpc":"2.0","method":"event","params":{"type":"entry","probe_id":2}})"
           "\n"
           R"({"jsonrpc":"2.0","id":1,"result":{}})"
           "\n");
    auto r = p.client.call("probe.list");
    REQUIRE(r.ok());
    REQUIRE(p.client.has_event());
    CHECK(p.client.pop_event()["probe_id"] == 1);
    CHECK(p.client.pop_event()["probe_id"] == 2);
    CHECK_FALSE(p.client.has_event());
}

TEST_CASE("an error response carries code, message and data") {
    Pair p;
    p.send(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"pid 5 is already traced",)"
           R"("data":{"field":"pid"}}})"
           "\n");
    auto r = p.client.call("process.attach", {{"pid", 5}});
    REQUIRE(r.ok());
    REQUIRE_FALSE(r->ok());
    CHECK(r->error->code == kRpcInvalidParams);
    CHECK(r->error->message == "pid 5 is already traced");
    CHECK(r->error->data["field"] == "pid");
}

TEST_CASE("a parse error answered with id null is the reply to our request") {
    Pair p;
    p.send(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})"
           "\n");
    auto r = p.client.call("x");
    REQUIRE(r.ok());
    REQUIRE_FALSE(r->ok());
    CHECK(r->error->code == -32700);
}

TEST_CASE("stale responses and garbage lines are skipped") {
    Pair p;
    p.send("not json\n\n"
           R"({"jsonrpc":"2.0","id":99,"result":{"stale":true}})"
           "\n"
           R"({"jsonrpc":"2.0","id":1,"result":{"fresh":true}})"
           "\n");
    auto r = p.client.call("x");
    REQUIRE(r.ok());
    CHECK(r->result.contains("fresh"));
    CHECK(p.client.malformed_lines() == 1);
}

TEST_CASE("a line split across reads is reassembled") {
    Pair p;
    p.send(R"({"jsonrpc":"2.0","method":"event","params":{"type":"re)");
    REQUIRE(p.client.read_available().ok());
    CHECK_FALSE(p.client.has_event());
    p.send(R"(turn"}})"
           "\n");
    REQUIRE(p.client.read_available().ok());
    REQUIRE(p.client.has_event());
    CHECK(p.client.pop_event()["type"] == "return");
}

TEST_CASE("the daemon closing the connection is an error, mid-call or while streaming") {
    Pair p;
    p.daemon.reset();
    auto r = p.client.call("daemon.status");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message == kConnectionClosed);

    Pair q;
    q.send(R"({"jsonrpc":"2.0","method":"event","params":{}})"
           "\n");
    q.daemon.reset();
    REQUIRE(q.client.read_available().ok());
    CHECK(q.client.has_event());
    auto eof = q.client.read_available();
    REQUIRE_FALSE(eof.ok());
    CHECK(eof.error().message == kConnectionClosed);
}

TEST_CASE("connecting where nobody listens keeps the errno for autostart") {
    auto r = RpcConnection::connect("/nonexistent-dir-probectl-test/probed.sock");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().sys_errno == ENOENT);
    auto too_long = RpcConnection::connect("/" + std::string(200, 'x'));
    REQUIRE_FALSE(too_long.ok());
    CHECK(too_long.error().message.find("too long") != std::string::npos);
}
