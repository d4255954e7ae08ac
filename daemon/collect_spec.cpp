#include "daemon/collect_spec.h"

#include <cctype>

namespace probed {

namespace {

bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '@';
}

} // namespace

bool is_valid_collection_name(const std::string& name) {
    if (name.empty() || name.size() > 100 || name[0] == '.') return false;
    for (char c : name)
        if (!name_char(c)) return false;
    return true;
}

std::string collection_name_from(const std::string& text) {
    std::string out = text.substr(0, 100);
    for (char& c : out)
        if (!name_char(c)) c = '_';
    if (!out.empty() && out[0] == '.') out[0] = '_';
    return out.empty() ? "_" : out;
}

std::optional<CollectSpecError> parse_collect_spec(const rpc::json& j, const std::string& default_name,
                                                   CollectSpec& out) {
    if (!j.is_object()) return CollectSpecError{"collect", "'collect' must be an object"};
    for (const auto& [key, value] : j.items()) {
        if (key != "name" && key != "error_if" && key != "retval")
            return CollectSpecError{"collect." + key, "unknown field 'collect." + key +
                                                          "' (known: name, error_if, retval)"};
    }
    CollectSpec spec;
    spec.name = default_name;
    if (j.contains("name")) {
        if (!j["name"].is_string() || !is_valid_collection_name(j["name"].get<std::string>()))
            return CollectSpecError{"collect.name",
                                    "'collect.name' must be 1-100 of A-Z a-z 0-9 . _ - @, not starting with '.'"};
        spec.name = j["name"].get<std::string>();
    }
    if (j.contains("retval")) {
        if (!j["retval"].is_string()) return CollectSpecError{"collect.retval", "'collect.retval' must be a string"};
        auto type = parse_retval_type(j["retval"].get<std::string>());
        if (!type) return CollectSpecError{"collect.retval", type.error().message};
        spec.type = *type;
    }
    if (j.contains("error_if")) {
        if (!j["error_if"].is_string())
            return CollectSpecError{"collect.error_if", "'collect.error_if' must be a string such as \"< 0\""};
        auto pred = RetvalPredicate::parse(j["error_if"].get<std::string>());
        if (!pred) return CollectSpecError{"collect.error_if", pred.error().message};
        spec.error_if = *pred;
    }
    out = std::move(spec);
    return std::nullopt;
}

} // namespace probed
