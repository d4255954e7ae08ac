#pragma once
// Function symbols of one mapped ELF file, relocated to process addresses.
#include "common/result.h"
#include "daemon/proc_maps.h"
#include "daemon/symbol_match.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace probed {

// Where a PT_LOAD segment comes from in the file and goes in memory.
struct LoadSegment {
    uint64_t offset = 0; // p_offset
    uint64_t vaddr = 0;  // p_vaddr
};

// Load bias from one mapping: the loader maps each PT_LOAD at
// page_down(p_offset) of the file to bias + page_down(p_vaddr), so the segment
// whose page-aligned offset equals the mapping's file offset fixes the bias.
// nullopt when no segment matches (e.g. a mapping the loader did not make).
std::optional<uint64_t> load_bias_for_mapping(const std::vector<LoadSegment>& segments,
                                              uint64_t map_start, uint64_t map_offset,
                                              uint64_t page_size);

struct ModuleSymbols {
    uint64_t bias = 0;
    std::vector<SymbolInfo> symbols;
    // Where the symbols came from, for messages: ".symtab", ".dynsym", or the
    // separate debuginfo file's path.
    std::string source;
};

// Reads the function symbols of `file` (the open ELF image behind `mapped`):
// its .symtab, else the .symtab of separate debuginfo found by build-id under
// /usr/lib/debug/.build-id/, else its .dynsym. Symbols carry `mapped.path` as
// their module. Fails when the file is not ELF or matches none of the
// mappings' segments.
Result<ModuleSymbols> read_module_symbols(int fd, const MappedFile& mapped);

} // namespace probed
