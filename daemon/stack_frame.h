#pragma once
// One frame of an unwound call stack, innermost first, as reported to users.
#include <cstdint>
#include <string>
#include <vector>

namespace probed {

struct StackFrame {
    uint64_t pc = 0;          // frame 0: where the thread is; others: the return address
    std::string module;       // path of the mapped file ("" if none)
    std::string function;     // demangled ("" if no symbol covers pc)
    uint64_t offset = 0;      // pc - start of `function`
    std::string file;         // source file, when debuginfo has a line for pc
    int line = 0;             // 0 when unknown
    // pc was read as our return trampoline and replaced by the true return
    // address from the thread's shadow stack.
    bool via_trampoline = false;
};

struct StackTrace {
    std::vector<StackFrame> frames;
    bool truncated = false; // stopped at the frame limit, not at the outermost frame
};

} // namespace probed
