#pragma once
// A stack.get result for people, like gdb's `bt`:
//   #0  0x000055d0c0a01149 in work+0x12 (/path/module) at file.c:42
// with " [via trampoline]" on frames whose return address came from our
// shadow stack.
#include <nlohmann/json.hpp>
#include <string>

namespace probed::client {

std::string format_stack(const nlohmann::json& result);

} // namespace probed::client
