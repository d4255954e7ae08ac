#pragma once
// Reading fields of daemon messages without trusting their types: nlohmann's
// get<>() throws on a mismatch, and a daemon that sends a field we did not
// expect must degrade one printed line, not kill the client.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace probed::client {

// A 64-bit machine word: unsigned or signed JSON numbers (two's complement),
// or "0x…" strings, which the protocol uses for exact values and addresses.
std::optional<std::uint64_t> word_value(const nlohmann::json& value);

std::optional<std::uint64_t> word_field(const nlohmann::json& obj, const char* key);
std::optional<std::int64_t> int_field(const nlohmann::json& obj, const char* key);
std::optional<double> double_field(const nlohmann::json& obj, const char* key);
std::string string_field(const nlohmann::json& obj, const char* key, std::string fallback = "");

// Compact or pretty text that never throws on invalid UTF-8 from the peer.
std::string dump_json(const nlohmann::json& value, int indent = -1);

} // namespace probed::client
