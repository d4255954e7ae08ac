#pragma once
// Splits a byte stream into '\n'-terminated lines with a length limit, for
// the one-JSON-object-per-line protocol. A line over the limit is reported
// once and skipped up to its end, so one bad client line cannot make us
// buffer without bound.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace probed {

class LineBuffer {
public:
    explicit LineBuffer(size_t max_line) : max_line_(max_line) {}

    void append(std::string_view bytes) { buf_.append(bytes); }

    struct Line {
        std::string text;
        bool too_long = false; // text is empty; the line was discarded
    };
    // The next complete line (without its '\n'), or nullopt if none yet.
    std::optional<Line> next();
    size_t buffered() const { return buf_.size(); }

private:
    size_t max_line_;
    std::string buf_;
    size_t scanned_ = 0;   // bytes of buf_ known to hold no '\n'
    bool skipping_ = false; // inside an over-long line
};

} // namespace probed
