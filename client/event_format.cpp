#include "client/event_format.h"

#include "client/json_fields.h"

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace probed::client {

namespace {

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

std::string fixed3(double v, const char* unit) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.3f %s", v, unit);
    return buf;
}

// What an abnormal `exit` reason reads as after the arrow.
std::string exit_reason_text(const std::string& exit) {
    if (exit == "detach")
        return "detached";
    if (exit == "thread_exit")
        return "thread exited";
    return exit; // "longjmp", "exception", and whatever a newer daemon adds
}

std::string head(const nlohmann::json& event, std::string_view comm) {
    std::string s = std::to_string(int_field(event, "pid").value_or(0));
    s += ' ';
    s += comm;
    s += '[' + std::to_string(int_field(event, "tid").value_or(0)) + ']';
    return s;
}

} // namespace

std::string format_duration(std::uint64_t ns) {
    if (ns < 1000)
        return std::to_string(ns) + " ns";
    if (ns < 1'000'000)
        return fixed3(static_cast<double>(ns) / 1e3, "µs");
    // Rounding to 3 decimals would print 999,999,999 ns as "1000.000 ms".
    if (ns < 999'999'500)
        return fixed3(static_cast<double>(ns) / 1e6, "ms");
    return fixed3(static_cast<double>(ns) / 1e9, "s");
}

std::string format_retval(std::uint64_t word) {
    auto as_signed = static_cast<std::int64_t>(word);
    if (as_signed > -1'000'000 && as_signed < 1'000'000)
        return std::to_string(as_signed);
    return hex(word);
}

std::string format_float(double value) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    if (ec != std::errc())
        return "?";
    std::string s(buf, end);
    if (s.find_first_of(".eEn") == std::string::npos)
        s += ".0"; // n: inf, nan
    return s;
}

std::string format_call(const nlohmann::json& event, int max_args) {
    std::string s = string_field(event, "function");
    if (s.empty())
        s = string_field(event, "address", "?");
    s += '(';
    auto args = event.find("args");
    if (args != event.end() && args->is_array()) {
        int n = 0;
        for (const auto& a : *args) {
            if (n >= max_args)
                break;
            if (n++)
                s += ", ";
            auto w = word_value(a);
            s += w ? hex(*w) : dump_json(a);
        }
    }
    s += ')';
    return s;
}

std::string format_call_event(const nlohmann::json& event, std::string_view comm, int max_args) {
    std::string type = string_field(event, "type");
    if (type == "entry")
        return head(event, comm) + " → " + format_call(event, max_args);

    std::string s = head(event, comm) + ' ' + format_call(event, max_args);
    std::string exit = string_field(event, "exit", "return");
    if (exit == "return") {
        // With --float the caller said the function returns a double, whose
        // integer register holds nothing meaningful.
        if (auto f = double_field(event, "float_retval")) {
            s += " = " + format_float(*f);
        } else {
            // retval_hex is exact; a JSON number above 2^53 may not be.
            auto v = word_field(event, "retval_hex");
            if (!v)
                v = word_field(event, "retval");
            if (v)
                s += " = " + format_retval(*v);
        }
    } else {
        s += " → " + exit_reason_text(exit);
    }
    if (auto d = word_field(event, "duration_ns"))
        s += "  <" + format_duration(*d) + '>';
    return s;
}

std::string format_dropped(const nlohmann::json& event) {
    std::string s = std::to_string(int_field(event, "count").value_or(0)) + " events";
    if (auto probe = int_field(event, "probe_id"))
        s += " of probe " + std::to_string(*probe);
    return s + " dropped (not read fast enough)";
}

std::string format_probe_lost(const nlohmann::json& event) {
    std::string s = "probe " + std::to_string(int_field(event, "probe_id").value_or(0));
    std::string function = string_field(event, "function");
    if (!function.empty()) s += " (" + function + ")";
    return s + " lost: " + string_field(event, "reason", "no reason given");
}

std::string format_exit(const nlohmann::json& event, std::string_view comm) {
    std::string s = std::to_string(int_field(event, "pid").value_or(0)) + ' ' + std::string(comm);
    if (auto code = int_field(event, "exit_code"))
        return s + " exited with code " + std::to_string(*code);
    if (auto sig = int_field(event, "signal")) {
        s += " killed by signal " + std::to_string(*sig);
        const char* abbrev = *sig > 0 && *sig < 65 ? sigabbrev_np(static_cast<int>(*sig)) : nullptr;
        if (abbrev)
            s += std::string(" (SIG") + abbrev + ')';
        return s;
    }
    return s + " exited";
}

} // namespace probed::client
