#pragma once
// A probe as the user asked for it, and what the engine made of it.
#include "arch/strategy.h"

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace probed {

enum class ProbeKind {
    Entry,  // an "entry" event at each hit
    Return, // one "return" event per completed call (args, retval, duration, exit)
    Call,   // both
};

const char* probe_kind_name(ProbeKind kind);
bool parse_probe_kind(const std::string& text, ProbeKind& out);

struct Capture {
    int args = 6;             // first N integer arguments (0..6)
    bool retval = true;
    bool float_retval = false; // xmm0 as a double
    bool stack = false;        // the call stack at the entry hit, in both events
};

struct ProbeSpec {
    pid_t pid = 0;
    std::string target; // "name", "lib:name", "name+0x10", "0xADDR"
    ProbeKind kind = ProbeKind::Return;
    Capture capture;
    // After an exec, resolve `target` again in the new image (symbolic
    // targets only) instead of ending the probe with a probe_lost event.
    bool rearm_on_exec = false;
};

struct ProbeInfo {
    uint64_t id = 0;
    pid_t pid = 0;
    std::string target;
    uint64_t address = 0;
    std::string module;
    std::string symbol;
    ProbeKind kind = ProbeKind::Return;
    arch::Strategy strategy = arch::Strategy::Reject;
    std::string instruction; // the displaced instruction, e.g. "push rbp"
    Capture capture;
    bool rearm_on_exec = false;
    uint64_t hits = 0;
    uint64_t dropped = 0;
};

inline bool wants_entry_event(ProbeKind k) { return k != ProbeKind::Return; }
inline bool wants_return(ProbeKind k) { return k != ProbeKind::Entry; }

} // namespace probed
