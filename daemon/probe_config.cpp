#include "daemon/probe_config.h"

#include "daemon/json_positions.h"

#include <dirent.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace probed {

namespace {

using json = nlohmann::json;

// Thrown inside this file only: a config check failed at a JSON pointer.
struct Bad {
    std::string pointer;
    std::string message;
};

std::string stem_of(const std::string& path) {
    std::string base = path.substr(path.rfind('/') + 1);
    return base.substr(0, base.rfind('.'));
}

void only_keys(const json& obj, const std::string& at, std::initializer_list<const char*> known) {
    for (const auto& item : obj.items()) {
        // Not a structured binding: clang before 16 cannot capture one (the
        // fuzz build, bench/fuzz, uses clang).
        const std::string& key = item.key();
        if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
            std::string list;
            for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
            throw Bad{at + "/" + key, "unknown field '" + key + "' (known: " + list + ")"};
        }
    }
}

ProcessSelector parse_select(const json& j) {
    if (!j.is_object() || j.size() != 1)
        throw Bad{"/select", "'select' must be an object with exactly one of pid, exe, comm, unit"};
    only_keys(j, "/select", {"pid", "exe", "comm", "unit"});
    ProcessSelector s;
    const auto& [key, v] = *j.items().begin();
    std::string at = "/select/" + key;
    if (key == "pid") {
        if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > 0x7fffffff)
            throw Bad{at, "'select.pid' must be a positive integer"};
        s.kind = ProcessSelector::Kind::Pid;
        s.pid = static_cast<pid_t>(v.get<int64_t>());
        return s;
    }
    if (!v.is_string() || v.get<std::string>().empty()) throw Bad{at, "'select." + key + "' must be a non-empty string"};
    s.value = v.get<std::string>();
    if (key == "exe") {
        if (s.value[0] != '/') throw Bad{at, "'select.exe' must be an absolute path"};
        s.kind = ProcessSelector::Kind::Exe;
    } else if (key == "comm") {
        s.kind = ProcessSelector::Kind::Comm;
    } else {
        if (s.value.find('/') != std::string::npos) throw Bad{at, "'select.unit' must be a unit name such as nginx.service"};
        s.kind = ProcessSelector::Kind::Unit;
        s.value = normalize_unit(s.value);
    }
    return s;
}

ConfiguredProbe parse_probe(const json& j, const std::string& at, const std::string& stem) {
    if (!j.is_object()) throw Bad{at, "each probe must be an object"};
    only_keys(j, at, {"name", "target", "kind", "capture", "collect"});
    ConfiguredProbe p;
    if (!j.contains("target") || !j["target"].is_string() || j["target"].get<std::string>().empty())
        throw Bad{at + "/target", "'target' must be a non-empty string such as \"libc:getaddrinfo\""};
    p.target = j["target"].get<std::string>();
    p.name = collection_name_from(p.target);
    if (j.contains("name")) {
        if (!j["name"].is_string() || !is_valid_collection_name(j["name"].get<std::string>()))
            throw Bad{at + "/name", "'name' must be 1-100 of A-Z a-z 0-9 . _ - @, not starting with '.'"};
        p.name = j["name"].get<std::string>();
    }
    if (j.contains("kind")) {
        if (!j["kind"].is_string() || !parse_probe_kind(j["kind"].get<std::string>(), p.kind))
            throw Bad{at + "/kind", "'kind' must be \"return\" or \"call\""};
        if (!wants_return(p.kind)) throw Bad{at + "/kind", "configured probes collect calls: 'kind' must be \"return\" or \"call\""};
    }
    if (j.contains("capture")) {
        const json& c = j["capture"];
        if (!c.is_object()) throw Bad{at + "/capture", "'capture' must be an object"};
        only_keys(c, at + "/capture", {"args", "retval", "float_retval"});
        if (c.contains("args")) {
            if (!c["args"].is_number_integer() || c["args"].get<int64_t>() < 0 || c["args"].get<int64_t>() > 6)
                throw Bad{at + "/capture/args", "'capture.args' must be an integer from 0 to 6"};
            p.capture.args = c["args"].get<int>();
        }
        for (auto [key, out] : {std::pair{"retval", &p.capture.retval}, {"float_retval", &p.capture.float_retval}}) {
            if (!c.contains(key)) continue;
            if (!c[key].is_boolean()) throw Bad{at + "/capture/" + key, std::string("'capture.") + key + "' must be true or false"};
            *out = c[key].get<bool>();
        }
    }
    json collect = j.value("collect", json::object());
    if (auto err = parse_collect_spec(collect, stem + "." + p.name, p.collect)) {
        std::string field = err->field.substr(err->field.find('.') == std::string::npos ? err->field.size() : err->field.find('.') + 1);
        throw Bad{at + "/collect" + (err->field == "collect" ? "" : "/" + field), err->message};
    }
    json identity = {{"target", p.target},          {"kind", probe_kind_name(p.kind)},
                     {"args", p.capture.args},      {"retval", p.capture.retval},
                     {"float", p.capture.float_retval}, {"collect", p.collect.name},
                     {"type", retval_type_name(p.collect.type)}, {"error_if", p.collect.error_if_text()}};
    p.identity = p.name + " " + identity.dump();
    return p;
}

} // namespace

std::string ConfigError::text() const {
    if (line == 0) return path + ": " + message;
    return path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::variant<ProbeFile, ConfigError> parse_probe_file(const std::string& path, const std::string& text) {
    json doc;
    try {
        doc = json::parse(text, nullptr, true, true); // comments allowed
    } catch (const json::parse_error& e) {
        // e.byte is the 1-based offset of the byte that broke the parse.
        auto [line, col] = JsonPositions::line_col(text, e.byte ? e.byte - 1 : 0);
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error ..." -> the tail
        size_t colon = what.find(": ");
        return ConfigError{path, line, col, "invalid JSON: " + (colon == std::string::npos ? what : what.substr(colon + 2))};
    }
    JsonPositions positions(text);
    try {
        if (!doc.is_object()) throw Bad{"", "the file must hold one JSON object with 'select' and 'probes'"};
        only_keys(doc, "", {"select", "probes"});
        if (!doc.contains("select")) throw Bad{"", "missing 'select' (one of pid, exe, comm, unit)"};
        if (!doc.contains("probes") || !doc["probes"].is_array() || doc["probes"].empty())
            throw Bad{"/probes", "'probes' must be a non-empty array"};
        ProbeFile f;
        f.path = path;
        f.select = parse_select(doc["select"]);
        std::set<std::string> names;
        for (size_t i = 0; i < doc["probes"].size(); ++i) {
            std::string at = "/probes/" + std::to_string(i);
            ConfiguredProbe p = parse_probe(doc["probes"][i], at, stem_of(path));
            if (!names.insert(p.name).second)
                throw Bad{at, "a second probe named '" + p.name + "' (give each a distinct 'name')"};
            f.probes.push_back(std::move(p));
        }
        return f;
    } catch (const Bad& b) {
        std::string where = pointer_to_path(b.pointer);
        return ConfigError{path, positions.line_of(b.pointer), 1, (where.empty() ? "" : where + ": ") + b.message};
    }
}

ProbesDir load_probes_dir(const std::string& dir) {
    ProbesDir out;
    DIR* d = opendir(dir.c_str());
    if (!d) {
        if (errno != ENOENT) out.errors.push_back({dir, 0, 0, std::string("cannot read directory: ") + std::strerror(errno)});
        return out;
    }
    std::vector<std::string> paths;
    while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0 && name[0] != '.')
            paths.push_back(dir + "/" + name);
    }
    closedir(d);
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
        std::ifstream in(path);
        if (!in) {
            out.errors.push_back({path, 0, 0, std::string("cannot read: ") + std::strerror(errno)});
            continue;
        }
        std::stringstream text;
        text << in.rdbuf();
        auto parsed = parse_probe_file(path, text.str());
        if (auto* err = std::get_if<ConfigError>(&parsed)) out.errors.push_back(std::move(*err));
        else out.files.push_back(std::get<ProbeFile>(std::move(parsed)));
    }
    return out;
}

} // namespace probed
