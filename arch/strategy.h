#pragma once
// The three-way verdict (plus reject) given to every probed instruction.

namespace probed::arch {

enum class Strategy {
    Simulate, // the daemon applies the instruction's effect to the registers: no slot, one stop
    Boosted,  // runs in a slot that ends in a jump back: no single-step, one stop
    Stepped,  // runs in a slot under PTRACE_SINGLESTEP, then fixed up: two stops
    Reject,   // cannot be probed; the decoder says why
};

inline const char* strategy_name(Strategy s) {
    switch (s) {
    case Strategy::Simulate: return "simulate";
    case Strategy::Boosted: return "boosted";
    case Strategy::Stepped: return "stepped";
    case Strategy::Reject: return "reject";
    }
    return "?";
}

} // namespace probed::arch
