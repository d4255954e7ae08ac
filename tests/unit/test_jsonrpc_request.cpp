#include <doctest/doctest.h>

#include "common/jsonrpc_request.h"
#include "common/line_buffer.h"

#include <string>
#include <vector>

using namespace probed;
using rpc::json;

namespace {

struct Recorder {
    std::vector<std::string> methods;
    rpc::Dispatch dispatch() {
        return [this](const json& id, const std::string& method, const json&) {
            methods.push_back(method);
            return rpc::result_response(id, {{"ok", true}});
        };
    }
};

std::optional<json> answer(const std::string& text, Recorder& r) {
    return rpc::answer_line(LineBuffer::Line{text, false}, r.dispatch());
}

int error_code(const std::optional<json>& reply) {
    REQUIRE(reply);
    REQUIRE(reply->contains("error"));
    return (*reply)["error"]["code"].get<int>();
}

} // namespace

TEST_CASE("a well-formed request is dispatched and answered with its id") {
    Recorder r;
    auto reply = answer(R"({"jsonrpc":"2.0","id":7,"method":"daemon.status"})", r);
    REQUIRE(reply);
    CHECK((*reply)["id"] == 7);
    CHECK((*reply)["result"]["ok"] == true);
    CHECK(r.methods == std::vector<std::string>{"daemon.status"});
}

TEST_CASE("a notification is dispatched but not answered") {
    Recorder r;
    CHECK_FALSE(answer(R"({"jsonrpc":"2.0","method":"events.unsubscribe"})", r));
    CHECK(r.methods.size() == 1);
}

TEST_CASE("blank lines are ignored") {
    Recorder r;
    CHECK_FALSE(answer("", r));
    CHECK_FALSE(answer(" \t ", r));
    CHECK(r.methods.empty());
}

TEST_CASE("malformed lines get the protocol's errors and reach no method") {
    Recorder r;
    CHECK(error_code(answer("{not json", r)) == rpc::kParseError);
    CHECK(error_code(answer("[1,2]", r)) == rpc::kInvalidRequest);
    CHECK(error_code(answer(R"({"jsonrpc":"1.0","id":1,"method":"x"})", r)) == rpc::kInvalidRequest);
    CHECK(error_code(answer(R"({"jsonrpc":"2.0","id":1,"method":5})", r)) == rpc::kInvalidRequest);
    CHECK(error_code(answer(R"({"jsonrpc":"2.0","id":[1],"method":"x"})", r)) == rpc::kInvalidRequest);
    auto bad_params = answer(R"({"jsonrpc":"2.0","id":"a","method":"x","params":[1]})", r);
    CHECK(error_code(bad_params) == rpc::kInvalidParams);
    CHECK((*bad_params)["id"] == "a");
    CHECK(r.methods.empty());
}

TEST_CASE("an over-long line is refused without parsing") {
    Recorder r;
    auto reply = rpc::answer_line(LineBuffer::Line{{}, true}, r.dispatch());
    CHECK(error_code(reply) == rpc::kInvalidRequest);
    CHECK((*reply)["error"]["data"]["limit"] == rpc::kMaxLine);
    CHECK(r.methods.empty());
}

TEST_CASE("line buffer: lines split across reads, CRLF, and an over-long line skipped to its end") {
    LineBuffer in(8);
    in.append("ab");
    CHECK_FALSE(in.next());
    in.append("c\r\nde\n");
    auto a = in.next();
    REQUIRE(a);
    CHECK(a->text == "abc");
    auto b = in.next();
    REQUIRE(b);
    CHECK(b->text == "de");
    CHECK_FALSE(in.next());

    in.append("0123456789"); // over the limit before its '\n' arrives
    auto long_line = in.next();
    REQUIRE(long_line);
    CHECK(long_line->too_long);
    CHECK_FALSE(in.next());
    CHECK(in.buffered() == 0);
    in.append("more of it\nok\n");
    auto ok = in.next();
    REQUIRE(ok);
    CHECK_FALSE(ok->too_long);
    CHECK(ok->text == "ok");
}
