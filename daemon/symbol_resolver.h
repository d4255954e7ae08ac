#pragma once
// Turns a user's probe target into an address in a live process.
//
// Target forms:  name | lib:name | name+0xOFF | lib:name+0xOFF | 0xADDR
//   - `lib` matches a loaded module by soname or by a substring of its path
//     ("libc" matches /usr/lib/x86_64-linux-gnu/libc.so.6).
//   - `name` matches a function symbol's raw name or its demangled form
//     (with or without the parameter list: "ns::Foo::bar" and
//     "ns::Foo::bar(int)" both match "_ZN2ns3Foo3barEi").
//   - Symbols come from .symtab, else .dynsym, of the main executable and every
//     loaded shared object, PIE or not, and from separate debuginfo found by
//     build-id under /usr/lib/debug/.build-id/.
//   - No match: NotFound, the message names what was searched. More than one
//     distinct address: Ambiguous, the message lists the candidates as
//     "module:symbol@0xaddr". The same address reached through aliases
//     (e.g. getpid and __getpid) is one match.
#include "common/result.h"

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace probed {

struct ResolvedTarget {
    uint64_t address = 0;    // absolute address in the process
    std::string module;      // path of the mapped file ("" for 0xADDR outside any module)
    std::string symbol;      // demangled name, "" for a bare address
    uint64_t offset = 0;     // address - symbol start
    uint64_t symbol_size = 0;
};

struct ParsedTarget {
    std::string lib;   // "" when not given
    std::string name;  // "" for a bare address
    uint64_t offset = 0;
    uint64_t address = 0; // for 0xADDR
    bool is_address = false;
};

// Pure parse of the target syntax; InvalidArgument on malformed input.
Result<ParsedTarget> parse_target(std::string_view spec);

// Resolves `spec` against the modules currently mapped in `pid` (reads
// /proc/pid/maps and the ELF files; no ptrace needed). `files_tid`, when
// set, is the thread of `pid` whose /proc files are read instead: those of a
// main thread that has left show nothing. Messages name `pid`.
Result<ResolvedTarget> resolve_target(pid_t pid, std::string_view spec, pid_t files_tid = 0);

struct FunctionDefinition {
    std::string name;    // raw symbol name
    std::string module;  // path of the mapped file
    uint64_t address = 0;
};

// Every definition of the functions named exactly (raw name) in `names`, in
// each loaded module whose path is not in `skip`; `scanned` receives the
// paths looked at. For the engine's own hooks, which must find a function in
// every module that carries a copy (a static libgcc_eh, for example).
Result<std::vector<FunctionDefinition>> find_definitions(pid_t pid,
                                                         const std::vector<std::string>& names,
                                                         const std::set<std::string>& skip,
                                                         std::vector<std::string>& scanned);

// Best-effort reverse lookup for logs and events: "module:symbol+0xoff".
std::string describe_address(pid_t pid, uint64_t addr);

} // namespace probed
