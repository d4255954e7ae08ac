#include "daemon/daemon_config.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace probed {

namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::optional<uint64_t> parse_count(const std::string& text) {
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (*end || errno == ERANGE) return std::nullopt;
    return v;
}

} // namespace

std::optional<uint64_t> parse_size(const std::string& text) {
    if (text.empty()) return std::nullopt;
    uint64_t mult = 1;
    std::string digits = text;
    switch (std::toupper(static_cast<unsigned char>(text.back()))) {
    case 'K': mult = 1ull << 10; break;
    case 'M': mult = 1ull << 20; break;
    case 'G': mult = 1ull << 30; break;
    default: break;
    }
    if (mult != 1) digits.pop_back();
    auto n = parse_count(digits);
    if (!n || *n > UINT64_MAX / mult) return std::nullopt;
    return *n * mult;
}

std::optional<uint64_t> parse_interval_ms(const std::string& text) {
    if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0) return parse_count(text.substr(0, text.size() - 2));
    if (text.size() > 1 && text.back() == 's') {
        auto n = parse_count(text.substr(0, text.size() - 1));
        if (!n || *n > UINT64_MAX / 1000) return std::nullopt;
        return *n * 1000;
    }
    return parse_count(text);
}

Result<DaemonConfig> parse_daemon_config(const std::string& text, const std::string& path) {
    DaemonConfig c;
    std::istringstream in(text);
    std::string raw;
    int line_no = 0;
    std::set<std::string> seen;
    auto bad = [&](const std::string& why) {
        return make_error(ErrorKind::InvalidArgument, path + ":" + std::to_string(line_no) + ": " + why);
    };
    while (std::getline(in, raw)) {
        ++line_no;
        std::string line = trim(raw.substr(0, raw.find('#')));
        if (line.empty()) continue;
        size_t eq = line.find('=');
        if (eq == std::string::npos) return bad("expected 'key = value', got '" + line + "'");
        std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
        if (key.empty()) return bad("missing key before '='");
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (!seen.insert(key).second) return bad("'" + key + "' is set twice");
        auto path_value = [&](std::optional<std::string>& out) -> Result<void> {
            if (value.empty()) return bad("'" + key + "' needs a path");
            out = value;
            return {};
        };
        auto number = [&](std::optional<uint64_t>& out, std::optional<uint64_t> v, const char* what) -> Result<void> {
            if (!v || *v == 0) return bad("'" + key + "' must be " + what + ", got '" + value + "'");
            out = v;
            return {};
        };
        if (key == "socket") PROBED_TRY(path_value(c.socket));
        else if (key == "state_dir") PROBED_TRY(path_value(c.state_dir));
        else if (key == "probes_dir") PROBED_TRY(path_value(c.probes_dir));
        else if (key == "log_level") {
            static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
            if (!levels.count(value)) return bad("'log_level' must be one of trace, debug, info, warn, error, off");
            c.log_level = value;
        } else if (key == "queue") PROBED_TRY(number(c.queue, parse_count(value), "a positive number"));
        else if (key == "collect_queue") PROBED_TRY(number(c.collect_queue, parse_count(value), "a positive number"));
        else if (key == "retain_files") PROBED_TRY(number(c.retain_files, parse_count(value), "a positive number"));
        else if (key == "rotate_size") PROBED_TRY(number(c.rotate_size, parse_size(value), "a size such as 16M"));
        else if (key == "retain_size") PROBED_TRY(number(c.retain_size, parse_size(value), "a size such as 256M"));
        else if (key == "scan_interval") PROBED_TRY(number(c.scan_interval_ms, parse_interval_ms(value), "an interval such as 2s or 500ms"));
        else
            return bad("unknown setting '" + key +
                       "' (known: socket, log_level, state_dir, probes_dir, queue, collect_queue, rotate_size, "
                       "retain_files, retain_size, scan_interval)");
    }
    return c;
}

Result<DaemonConfig> load_daemon_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Error::from_errno("cannot read config " + path);
    std::stringstream text;
    text << in.rdbuf();
    return parse_daemon_config(text.str(), path);
}

} // namespace probed
