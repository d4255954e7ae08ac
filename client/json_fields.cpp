#include "client/json_fields.h"

#include <charconv>

namespace probed::client {

namespace {

const nlohmann::json* member(const nlohmann::json& obj, const char* key) {
    if (!obj.is_object())
        return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

} // namespace

std::optional<std::uint64_t> word_value(const nlohmann::json& value) {
    if (value.is_number_unsigned())
        return value.get<std::uint64_t>();
    if (value.is_number_integer())
        return static_cast<std::uint64_t>(value.get<std::int64_t>());
    if (value.is_string()) {
        const std::string& s = value.get_ref<const std::string&>();
        if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
            return std::nullopt;
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, 16);
        if (ec != std::errc() || end != s.data() + s.size())
            return std::nullopt;
        return v;
    }
    return std::nullopt;
}

std::optional<std::uint64_t> word_field(const nlohmann::json& obj, const char* key) {
    const nlohmann::json* v = member(obj, key);
    return v ? word_value(*v) : std::nullopt;
}

std::optional<std::int64_t> int_field(const nlohmann::json& obj, const char* key) {
    const nlohmann::json* v = member(obj, key);
    if (!v || !v->is_number_integer())
        return std::nullopt;
    if (v->is_number_unsigned()) {
        auto u = v->get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(INT64_MAX))
            return std::nullopt;
        return static_cast<std::int64_t>(u);
    }
    return v->get<std::int64_t>();
}

std::optional<double> double_field(const nlohmann::json& obj, const char* key) {
    const nlohmann::json* v = member(obj, key);
    if (!v || !v->is_number())
        return std::nullopt;
    return v->get<double>();
}

std::string string_field(const nlohmann::json& obj, const char* key, std::string fallback) {
    const nlohmann::json* v = member(obj, key);
    if (!v)
        return fallback;
    if (v->is_string())
        return v->get<std::string>();
    return dump_json(*v);
}

std::string dump_json(const nlohmann::json& value, int indent) {
    return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace probed::client
