#include "client/stack_format.h"

#include "client/json_fields.h"

#include <cstdio>

namespace probed::client {

namespace {

std::string hex(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string format_frame(size_t index, const nlohmann::json& f) {
    std::string num = "#" + std::to_string(index);
    // gdb's column: "#0  0x", "#10 0x".
    std::string out = num + std::string(num.size() < 3 ? 4 - num.size() : 1, ' ');
    char pc[32];
    std::snprintf(pc, sizeof pc, "0x%016llx",
                  static_cast<unsigned long long>(word_field(f, "pc").value_or(0)));
    out += pc;
    out += " in ";
    std::string function = string_field(f, "function");
    if (function.empty()) {
        out += "??";
    } else {
        out += function;
        if (auto off = word_field(f, "offset"); off && *off != 0) out += "+" + hex(*off);
    }
    std::string module = string_field(f, "module");
    if (!module.empty()) out += " (" + module + ")";
    std::string file = string_field(f, "file");
    if (!file.empty()) {
        out += " at " + file;
        if (auto line = int_field(f, "line"); line && *line > 0) out += ":" + std::to_string(*line);
    }
    auto via = f.find("via_trampoline");
    if (via != f.end() && via->is_boolean() && via->get<bool>()) out += " [via trampoline]";
    return out + '\n';
}

} // namespace

std::string format_stack(const nlohmann::json& result) {
    std::string out;
    auto frames = result.find("frames");
    if (frames == result.end() || !frames->is_array() || frames->empty())
        return "no frames\n";
    for (size_t i = 0; i < frames->size(); ++i)
        if ((*frames)[i].is_object()) out += format_frame(i, (*frames)[i]);
    auto truncated = result.find("truncated");
    if (truncated != result.end() && truncated->is_boolean() && truncated->get<bool>())
        out += "(more frames not shown)\n";
    return out;
}

} // namespace probed::client
