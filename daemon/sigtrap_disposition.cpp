#include "daemon/sigtrap_disposition.h"

#include <charconv>
#include <csignal>

namespace probed {

namespace {

constexpr uint64_t kSigtrapBit = 1ull << (SIGTRAP - 1);
// Fields of /proc/PID/stat counted from the state (field 3), the first
// after the command name's closing parenthesis.
constexpr int kSigignoreAfterState = 33 - 3;
constexpr int kSigcatchAfterState = 34 - 3;

} // namespace

SigtrapKind kind_of(const KernelSigaction& action) {
    if (action.handler == 0) return SigtrapKind::Default;
    if (action.handler == 1) return SigtrapKind::Ignored;
    return SigtrapKind::Caught;
}

std::optional<SigtrapKind> sigtrap_kind_from_stat(std::string_view stat) {
    // The command name may hold spaces and parentheses: the last ')' ends it.
    const auto close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = stat.substr(close + 1);
    std::optional<uint64_t> ignored, caught;
    for (int field = 0; field <= kSigcatchAfterState; ++field) {
        const auto start = rest.find_first_not_of(' ');
        if (start == std::string_view::npos) return std::nullopt;
        rest.remove_prefix(start);
        const auto end = std::min(rest.find_first_of(" \n"), rest.size());
        const std::string_view word = rest.substr(0, end);
        if (field == kSigignoreAfterState || field == kSigcatchAfterState) {
            uint64_t value = 0;
            auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
            if (ec != std::errc{} || p != word.data() + word.size()) return std::nullopt;
            (field == kSigignoreAfterState ? ignored : caught) = value;
        }
        rest.remove_prefix(end);
    }
    if (*caught & kSigtrapBit) return SigtrapKind::Caught;
    if (*ignored & kSigtrapBit) return SigtrapKind::Ignored;
    return SigtrapKind::Default;
}

SigtrapStep SigtrapDisposition::step_at_trap(SigtrapKind seen, uint64_t now_ns) const {
    if (seen == SigtrapKind::Default)
        return kind == SigtrapKind::Default ? SigtrapStep::Nothing : SigtrapStep::Restore;
    // Our traps only ever make it the default: anything else is the
    // program's own.
    if (seen != kind || !action || now_ns >= next_capture_ns) return SigtrapStep::Capture;
    return SigtrapStep::Nothing;
}

SigtrapStep SigtrapDisposition::step_at_rest(SigtrapKind seen) const {
    if (seen == SigtrapKind::Default) return SigtrapStep::Nothing;
    return seen != kind || !action ? SigtrapStep::Capture : SigtrapStep::Nothing;
}

void SigtrapDisposition::captured(const KernelSigaction& a, uint64_t now_ns) {
    kind = kind_of(a);
    action = kind == SigtrapKind::Default ? std::nullopt : std::optional(a);
    next_capture_ns = now_ns + kCaptureEveryNs;
    next_look_ns = now_ns + kLookEveryNs;
}

void SigtrapDisposition::after_exec() {
    if (kind == SigtrapKind::Ignored) action = KernelSigaction{1, 0, 0, 0};
    else {
        kind = SigtrapKind::Default;
        action.reset();
    }
    next_look_ns = next_capture_ns = 0;
    action_slot = 0;
}

SigtrapDisposition SigtrapDisposition::for_fork_child() const {
    SigtrapDisposition c;
    c.kind = kind;
    c.action = action;
    c.action_slot = action_slot; // the child has a copy of our page
    return c;
}

} // namespace probed
