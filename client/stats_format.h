#pragma once
// `probectl stats` for people: one block per collection with its counts,
// percentiles, top return values and the latency histogram drawn as bars.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace probed::client {

// The text for a stats.get result; `bar_width` is the longest bar in columns.
std::string format_stats(const nlohmann::json& result, int bar_width = 40);
// 850ns, 25.9us, 1.20ms, 2.50s
std::string format_duration_ns(std::uint64_t ns);
// A bar of `fraction` (0..1) of `width` columns, in eighths of a column.
std::string histogram_bar(double fraction, int width);

} // namespace probed::client
