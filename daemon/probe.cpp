#include "daemon/probe.h"

namespace probed {

const char* probe_kind_name(ProbeKind kind) {
    switch (kind) {
    case ProbeKind::Entry: return "entry";
    case ProbeKind::Return: return "return";
    case ProbeKind::Call: return "call";
    }
    return "?";
}

bool parse_probe_kind(const std::string& text, ProbeKind& out) {
    if (text == "entry") out = ProbeKind::Entry;
    else if (text == "return") out = ProbeKind::Return;
    else if (text == "call") out = ProbeKind::Call;
    else return false;
    return true;
}

} // namespace probed
