#pragma once
// Functions of the program's own runtime that the engine probes for itself
// so that unwinders never meet our return trampoline (docs/unwinding.md).
//
// An unwinder (C++ exceptions, pthread_exit/pthread_cancel's forced unwind)
// walks the stack by reading return addresses and looking up their unwind
// tables. A hijacked return address points into our anonymous page, which has
// none, so the walk would stop there and the program would call
// std::terminate. So at each unwinder entry point the thread's hijacked
// return addresses are put back, and once the exception is caught the frames
// still alive are hijacked again. _Unwind_Backtrace (glibc's backtrace())
// walks and returns: the frames are hijacked again where it returns to.
#include <string>
#include <vector>

namespace probed {

enum class UnwindHook {
    None,         // an ordinary probe site
    Unwind,       // an unwinder starts walking: restore the thread's return addresses
    ForcedUnwind, // the same, for a walk that ends the thread (pthread_exit/cancel)
    Catch,        // a handler caught the exception: frames below it are gone, re-hijack the rest
    LibraryLoad,  // the dynamic loader changed the module list: look for new unwinders
    Backtrace,    // _Unwind_Backtrace walks and returns: restore now, re-hijack at WalkDone
    WalkDone,     // a temporary site where a Backtrace walk returns to its caller
};

struct UnwindHookSymbol {
    const char* name;
    UnwindHook hook;
};

// The entry points, by raw symbol name. _dl_debug_state is the loader's
// debugger hook (r_brk), called around every dlopen/dlclose: glibc loads
// libgcc_s only when a thread is first cancelled or exits.
inline constexpr UnwindHookSymbol kUnwindHookSymbols[] = {
    {"_Unwind_RaiseException", UnwindHook::Unwind},
    {"_Unwind_Resume", UnwindHook::Unwind},
    {"_Unwind_Resume_or_Rethrow", UnwindHook::Unwind},
    {"_Unwind_ForcedUnwind", UnwindHook::ForcedUnwind},
    {"__cxa_begin_catch", UnwindHook::Catch},
    {"_dl_debug_state", UnwindHook::LibraryLoad},
    {"_Unwind_Backtrace", UnwindHook::Backtrace},
};

inline UnwindHook unwind_hook_for(const std::string& name) {
    for (const auto& s : kUnwindHookSymbols)
        if (name == s.name) return s.hook;
    return UnwindHook::None;
}

inline std::vector<std::string> unwind_hook_names() {
    std::vector<std::string> out;
    for (const auto& s : kUnwindHookSymbols) out.emplace_back(s.name);
    return out;
}

} // namespace probed
