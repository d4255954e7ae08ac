#include "common/line_buffer.h"

namespace probed {

std::optional<LineBuffer::Line> LineBuffer::next() {
    while (true) {
        size_t nl = buf_.find('\n', scanned_);
        if (nl == std::string::npos) {
            scanned_ = buf_.size();
            if (!skipping_ && buf_.size() > max_line_) {
                // Report as soon as we know, then drop what comes until '\n'.
                skipping_ = true;
                buf_.clear();
                scanned_ = 0;
                return Line{{}, true};
            }
            if (skipping_) {
                buf_.clear();
                scanned_ = 0;
            }
            return std::nullopt;
        }
        if (skipping_) {
            buf_.erase(0, nl + 1);
            scanned_ = 0;
            skipping_ = false;
            continue;
        }
        if (nl > max_line_) {
            buf_.erase(0, nl + 1);
            scanned_ = 0;
            return Line{{}, true};
        }
        Line line{buf_.substr(0, nl), false};
        buf_.erase(0, nl + 1);
        scanned_ = 0;
        if (!line.text.empty() && line.text.back() == '\r') line.text.pop_back();
        return line;
    }
}

} // namespace probed
