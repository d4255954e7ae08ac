#include "client/stack_format.h"

#include <doctest/doctest.h>

using namespace probed::client;
using nlohmann::json;

TEST_CASE("frames print like gdb's bt, with our trampoline marker") {
    json r = json::parse(R"J({"pid":7,"tid":7,"frames":[
        {"pc":"0x55d0c0a01149","module":"/t/prog","function":"work","offset":18,
         "file":"prog.c","line":42},
        {"pc":"0x55d0c0a01200","module":"/t/prog","function":"deep::dive(long)","offset":0,
         "via_trampoline":true},
        {"pc":"0x1000","module":"","function":"","offset":0}]})J");
    CHECK(format_stack(r) ==
          "#0  0x000055d0c0a01149 in work+0x12 (/t/prog) at prog.c:42\n"
          "#1  0x000055d0c0a01200 in deep::dive(long) (/t/prog) [via trampoline]\n"
          "#2  0x0000000000001000 in ??\n");
}

TEST_CASE("two-digit frame numbers keep the column; truncation is said") {
    json frames = json::array();
    for (int i = 0; i < 11; ++i)
        frames.push_back({{"pc", "0x10"}, {"module", "m"}, {"function", "f"}, {"offset", 0}});
    std::string text = format_stack({{"frames", frames}, {"truncated", true}});
    CHECK(text.find("#9  0x0000000000000010 in f (m)\n#10 0x0000000000000010 in f (m)\n") !=
          std::string::npos);
    CHECK(text.find("(more frames not shown)\n") != std::string::npos);
}

TEST_CASE("a result without frames, or with mistyped fields, still prints") {
    CHECK(format_stack(json::object()) == "no frames\n");
    json r = {{"frames", json::array({{{"pc", 5}, {"function", 3}, {"line", "x"}, {"file", "a.c"}}})}};
    CHECK(format_stack(r) == "#0  0x0000000000000005 in 3 at a.c\n");
}
