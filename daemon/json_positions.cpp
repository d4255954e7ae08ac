#include "daemon/json_positions.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <vector>

namespace probed {

namespace {

using json = nlohmann::json;

// RFC 6901: '~' and '/' inside a key.
std::string escape_key(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

// Records the stream position as each value ends: the parser reads the text
// through `in`, so its position is where the lexer has got to.
class PositionSax {
public:
    PositionSax(std::istringstream& in, const std::string& text, std::map<std::string, int>& out)
        : in_(in), text_(text), out_(out) {}

    bool null() { return scalar(); }
    bool boolean(bool) { return scalar(); }
    bool number_integer(json::number_integer_t) { return scalar(); }
    bool number_unsigned(json::number_unsigned_t) { return scalar(); }
    bool number_float(json::number_float_t, const std::string&) { return scalar(); }
    bool string(std::string&) { return scalar(); }
    bool binary(json::binary_t&) { return scalar(); }
    bool start_object(std::size_t) { return open(false); }
    bool start_array(std::size_t) { return open(true); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(std::string& k) {
        stack_.back().key = k;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
        out_.clear();
        return false;
    }

private:
    struct Frame {
        bool array = false;
        size_t index = 0;
        std::string key;
    };

    std::string pointer() const {
        std::string p;
        for (const Frame& f : stack_) {
            p += '/';
            p += f.array ? std::to_string(f.index) : escape_key(f.key);
        }
        return p;
    }
    int line_now() const {
        auto pos = in_.rdbuf()->pubseekoff(0, std::ios::cur, std::ios::in);
        size_t end = pos > 0 ? static_cast<size_t>(pos) - 1 : 0;
        // The last byte read may be the delimiter after a number: lines
        // count up to, not including, it.
        int line = 1;
        for (size_t i = 0; i < end && i < text_.size(); ++i) line += text_[i] == '\n';
        return line;
    }
    void advance() {
        if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    }
    bool scalar() {
        out_.emplace(pointer(), line_now());
        advance();
        return true;
    }
    bool open(bool array) {
        out_.emplace(pointer(), line_now());
        stack_.push_back({array, 0, {}});
        return true;
    }
    bool close() {
        stack_.pop_back();
        advance();
        return true;
    }

    std::istringstream& in_;
    const std::string& text_;
    std::map<std::string, int>& out_;
    std::vector<Frame> stack_;
};

} // namespace

JsonPositions::JsonPositions(const std::string& text) {
    std::istringstream in(text);
    PositionSax sax(in, text, lines_);
    json::sax_parse(in, &sax, json::input_format_t::json, true, true);
}

int JsonPositions::line_of(const std::string& pointer) const {
    std::string p = pointer;
    while (true) {
        auto it = lines_.find(p);
        if (it != lines_.end()) return it->second;
        if (p.empty()) return 1;
        p = p.substr(0, p.rfind('/'));
    }
}

std::pair<int, int> JsonPositions::line_col(const std::string& text, size_t byte) {
    int line = 1, col = 1;
    for (size_t i = 0; i < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return {line, col};
}

std::string pointer_to_path(const std::string& pointer) {
    std::string out;
    size_t i = 0;
    while (i < pointer.size()) {
        size_t next = pointer.find('/', i + 1);
        std::string part = pointer.substr(i + 1, next == std::string::npos ? std::string::npos : next - i - 1);
        bool index = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
        if (index) out += "[" + part + "]";
        else out += (out.empty() ? "" : ".") + part;
        if (next == std::string::npos) break;
        i = next;
    }
    return out;
}

} // namespace probed
