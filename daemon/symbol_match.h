#pragma once
// The pure half of symbol resolution: name matching, library filtering and
// candidate selection over plain symbol lists, free of any process or file
// access so that every rule can be unit tested with synthetic symbols.
// (parse_target, declared in symbol_resolver.h, is implemented here too.)
#include "common/result.h"
#include "daemon/symbol_resolver.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace probed {

// Among aliases at one address, lower is preferred (after fewer leading
// underscores, see preferred_alias).
enum class SymbolBinding : uint8_t { Global = 0, Weak = 1, Local = 2 };

struct SymbolInfo {
    std::string module;    // path of the file the symbol was loaded from
    std::string name;      // raw (possibly mangled) name
    std::string demangled; // == name when not a mangled C++ name
    uint64_t address = 0;  // absolute, load bias applied
    uint64_t size = 0;     // 0 when unknown
    SymbolBinding binding = SymbolBinding::Global;
};

// abi::__cxa_demangle for "_Z..." names; anything else is returned unchanged.
std::string demangle_symbol(const std::string& raw);

// "ns::S::f(int) const" -> "ns::S::f". Strips one trailing " const" and the
// trailing balanced parameter list; text that does not end in ')' (after the
// const) is returned unchanged, which deliberately keeps GCC fragments like
// "f(int) [clone .cold]" from matching a plain "f".
std::string_view strip_parameters(std::string_view demangled);

// `query` equals the raw name, the demangled name, or the demangled name
// without its parameter list.
bool symbol_name_matches(const SymbolInfo& sym, std::string_view query);

// Indices of `paths` selected by a "lib:" prefix. Soname-like matches win:
// basename == lib or basename starting with lib followed by '.' or '-'
// ("libc" -> libc.so.6, not libcap.so.2). Only when there are none, any
// basename starting with lib or any path containing lib is accepted.
std::vector<size_t> filter_modules_by_lib(const std::vector<std::string>& paths,
                                          std::string_view lib);

// Chooses the symbol `target.name` among `symbols` and applies the offset.
// Several names at one address (aliases) count as one match. `searched`
// completes the NotFound message: "symbol 'x' not found in <searched>".
Result<ResolvedTarget> select_symbol(const std::vector<SymbolInfo>& symbols,
                                     const ParsedTarget& target, std::string_view searched);

// The symbol whose [address, address+size) holds addr (or whose address is
// addr when its size is unknown); the preferred alias among ties; nullptr if
// none.
const SymbolInfo* find_containing_symbol(const std::vector<SymbolInfo>& symbols, uint64_t addr);

// "/usr/lib/libc.so.6" -> "libc.so.6".
std::string_view path_basename(std::string_view path);

} // namespace probed
