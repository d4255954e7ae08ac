#pragma once
// /proc/PID/maps as data. Shared by the symbol resolver (which files are
// loaded where) and the engine (where free address space and executable
// memory are).
#include "common/result.h"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace probed {

struct MapEntry {
    uint64_t start = 0;
    uint64_t end = 0;    // exclusive
    std::string perms;   // as printed, e.g. "r-xp"
    uint64_t offset = 0; // file offset of `start`
    std::string dev;     // "major:minor" in hex, as printed
    uint64_t inode = 0;
    // "" for anonymous memory; pseudo names such as "[heap]" and "[vdso]" are
    // kept verbatim. A " (deleted)" suffix is removed and recorded in `deleted`.
    std::string path;
    bool deleted = false;

    bool readable() const { return perms.size() > 0 && perms[0] == 'r'; }
    bool writable() const { return perms.size() > 1 && perms[1] == 'w'; }
    bool executable() const { return perms.size() > 2 && perms[2] == 'x'; }
    bool shared() const { return perms.size() > 3 && perms[3] == 's'; }
    // Backed by a file (including memfd and deleted files), not "[heap]" etc.
    bool file_backed() const { return !path.empty() && path.front() == '/'; }
    bool contains(uint64_t addr) const { return addr >= start && addr < end; }
};

// Parses the full text of a maps file. Lines must be in the kernel's format;
// a malformed line is InvalidArgument naming the line number.
Result<std::vector<MapEntry>> parse_proc_maps(std::string_view text);

// Reads and parses /proc/<pid>/maps. A pid that does not exist is NotFound
// ("no such process N"); a pid we may not inspect is Permission.
Result<std::vector<MapEntry>> read_proc_maps(pid_t pid);

// One file mapped into the process: the consecutive mappings the loader made
// for it (text, data, relro...). The same path loaded twice (e.g. dlmopen)
// yields two MappedFiles.
struct MappedFile {
    std::string path;
    std::string dev;
    uint64_t inode = 0;
    bool deleted = false;
    std::vector<MapEntry> mappings; // ascending addresses

    uint64_t start() const { return mappings.front().start; }
    bool executable() const;
};

// Groups the file-backed entries of `maps` by file. Anonymous and pseudo
// ("[heap]") entries are skipped.
std::vector<MappedFile> group_mapped_files(const std::vector<MapEntry>& maps);

// The entry containing `addr`, or nullptr. `maps` must be sorted by address,
// as the kernel prints it.
const MapEntry* find_mapping(const std::vector<MapEntry>& maps, uint64_t addr);

} // namespace probed
