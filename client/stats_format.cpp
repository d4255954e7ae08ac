#include "client/stats_format.h"

#include "client/json_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

namespace probed::client {

namespace {

using nlohmann::json;

std::string count_text(const json& obj, const char* key) {
    auto v = word_field(obj, key);
    return v ? std::to_string(*v) : "-";
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
    if (whole == 0)
        return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f%%)", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
    return buf;
}

std::string wall_time(std::uint64_t ns) {
    if (ns == 0)
        return "-";
    std::time_t secs = static_cast<std::time_t>(ns / 1000000000ull);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string pad_left(const std::string& s, std::size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

const json& member(const json& obj, const char* key) {
    static const json null;
    if (!obj.is_object())
        return null;
    auto it = obj.find(key);
    return it == obj.end() ? null : *it;
}

std::string id_list(const json& arr) {
    std::string out;
    if (!arr.is_array())
        return out;
    for (const json& v : arr)
        if (auto n = word_value(v))
            out += (out.empty() ? "" : ",") + std::to_string(*n);
    return out;
}

std::string format_one(const json& c, int bar_width) {
    std::string out = string_field(c, "name", "?");
    std::string head;
    std::string error_if = member(c, "error_if").is_string() ? member(c, "error_if").get<std::string>() : "";
    head += "error if " + (error_if.empty() ? std::string("never") : "retval " + error_if);
    head += ", retval " + string_field(c, "retval_type", "long");
    std::string probes = id_list(member(c, "probe_ids")), pids = id_list(member(c, "pids"));
    head += probes.empty() ? ", no live probe" : ", probe " + probes + " in pid " + pids;
    out += "  (" + head + ")\n";

    std::uint64_t calls = word_field(c, "calls").value_or(0), returns = word_field(c, "returns").value_or(0);
    std::uint64_t errors = word_field(c, "errors").value_or(0);
    out += "  calls " + std::to_string(calls) + "   returns " + std::to_string(returns) + "   errors " +
           std::to_string(errors) + percent(errors, returns) + "   dropped " + count_text(c, "dropped") + '\n';
    const json& abnormal = member(c, "abnormal");
    if (abnormal.is_object() && !abnormal.empty()) {
        out += "  abnormal exits:";
        for (const auto& [kind, n] : abnormal.items())
            out += " " + kind + " " + (word_value(n) ? std::to_string(*word_value(n)) : "?");
        out += '\n';
    }
    if (calls)
        out += "  first " + wall_time(word_field(c, "first_ns").value_or(0)) + "   last " +
               wall_time(word_field(c, "last_ns").value_or(0)) + '\n';

    const json& lat = member(c, "latency_ns");
    const json& hist = member(lat, "histogram");
    const json& buckets = member(hist, "buckets");
    if (buckets.is_array() && !buckets.empty()) {
        auto d = [&](const char* key) { return format_duration_ns(word_field(lat, key).value_or(0)); };
        out += "  latency  p50 ~" + d("p50") + "   p99 ~" + d("p99") + "   mean " + d("mean") + "   min " +
               d("min") + "   max " + d("max") + '\n';
        out += "           (p50/p99 are read from power-of-two buckets: within a factor of 2)\n";
    }

    const json& top = member(c, "top_values");
    if (top.is_array() && !top.empty()) {
        out += "  top return values:\n";
        std::size_t shown = 0;
        for (const json& e : top) {
            if (shown++ == 10)
                break;
            std::string value = member(e, "value").is_number() ? member(e, "value").dump() : "?";
            std::uint64_t n = word_field(e, "count").value_or(0), err = word_field(e, "error").value_or(0);
            out += "    " + pad_left(value, 12) + "  " + pad_left(std::to_string(n), 10) + percent(n, returns);
            if (err)
                out += "  (count may be over by up to " + std::to_string(err) + ")";
            out += '\n';
        }
    }

    if (buckets.is_array() && !buckets.empty()) {
        out += "  latency histogram:\n";
        std::uint64_t most = 0;
        for (const json& b : buckets)
            if (b.is_array() && b.size() == 2)
                most = std::max(most, word_value(b[1]).value_or(0));
        // Rows from the first to the last non-empty bucket, gaps included,
        // so the shape reads right.
        std::uint64_t lo = word_value(buckets.front()[0]).value_or(0), hi = word_value(buckets.back()[0]).value_or(0);
        std::map<std::uint64_t, std::uint64_t> counts;
        for (const json& b : buckets)
            if (b.is_array() && b.size() == 2)
                counts[word_value(b[0]).value_or(0)] = word_value(b[1]).value_or(0);
        for (std::uint64_t low = lo;; low = low ? low * 2 : 2) {
            std::uint64_t high = low ? low * 2 : 2;
            std::uint64_t n = counts.count(low) ? counts[low] : 0;
            std::string label = pad_left(format_duration_ns(low), 8) + " .. " + pad_left(format_duration_ns(high), 8);
            double frac = most ? static_cast<double>(n) / static_cast<double>(most) : 0.0;
            std::string bar = histogram_bar(frac, bar_width);
            out += "    " + label + " |" + bar + "  " + std::to_string(n) + '\n';
            if (low >= hi || low >= (1ull << 62))
                break;
        }
    }
    if (auto dir = string_field(c, "dir"); !dir.empty())
        out += "  calls logged in " + dir + "/calls*.jsonl\n";
    return out;
}

} // namespace

std::string format_duration_ns(std::uint64_t ns) {
    char buf[32];
    double v = static_cast<double>(ns);
    if (ns < 1000)
        std::snprintf(buf, sizeof buf, "%lluns", static_cast<unsigned long long>(ns));
    else if (ns < 1000000)
        std::snprintf(buf, sizeof buf, v < 1e4 ? "%.2fus" : "%.1fus", v / 1e3);
    else if (ns < 1000000000)
        std::snprintf(buf, sizeof buf, v < 1e7 ? "%.2fms" : "%.1fms", v / 1e6);
    else
        std::snprintf(buf, sizeof buf, "%.2fs", v / 1e9);
    return buf;
}

std::string histogram_bar(double fraction, int width) {
    static const char* const kEighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    fraction = std::clamp(fraction, 0.0, 1.0);
    int eighths = static_cast<int>(std::lround(fraction * width * 8));
    if (fraction > 0 && eighths == 0)
        eighths = 1; // a non-empty bucket always shows
    std::string bar;
    for (int i = 0; i < eighths / 8; ++i)
        bar += "█";
    bar += kEighths[eighths % 8];
    int used = eighths / 8 + (eighths % 8 ? 1 : 0);
    bar += std::string(static_cast<std::size_t>(std::max(0, width - used)), ' ');
    return bar;
}

std::string format_stats(const json& result, int bar_width) {
    const json& list = member(result, "collections");
    std::string out;
    if (!list.is_array() || list.empty()) {
        out = "nothing collected yet (probe.add with \"collect\", or probes.d)\n";
    } else {
        for (const json& c : list)
            out += (out.empty() ? "" : "\n") + format_one(c, bar_width);
    }
    const json& queue = member(result, "queue");
    if (auto dropped = word_field(queue, "dropped"); dropped && *dropped)
        out += "\ncollector queue dropped " + std::to_string(*dropped) + " calls (disk too slow?)\n";
    if (auto errs = word_field(result, "write_errors"); errs && *errs)
        out += "write errors: " + std::to_string(*errs) + " (see the daemon's log)\n";
    return out;
}

} // namespace probed::client
