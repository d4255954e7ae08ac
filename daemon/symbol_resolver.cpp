// The process-facing half of symbol resolution: which files are mapped, how
// to open them, and their symbols. Matching rules live in symbol_match.cpp.
//
// Nothing is cached: each call re-reads /proc/PID/maps and the ELF files, so
// a dlopen, dlclose or exec in the tracee can never leave stale answers.
#include "daemon/symbol_resolver.h"

#include "common/remote_ptr.h"
#include "common/unique_fd.h"
#include "daemon/elf_symbols.h"
#include "daemon/proc_maps.h"
#include "daemon/symbol_match.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace probed {
namespace {

// Whether `st_dev` is the device printed as "major:minor" (hex) in maps.
bool same_device(const std::string& maps_dev, dev_t st_dev) {
    unsigned int major_no = 0, minor_no = 0;
    if (std::sscanf(maps_dev.c_str(), "%x:%x", &major_no, &minor_no) != 2)
        return false;
    return major(st_dev) == major_no && minor(st_dev) == minor_no;
}

// Opens the file behind a mapping, preferring views that are guaranteed to be
// the mapped inode: map_files (works for deleted files; needs
// CAP_CHECKPOINT_RESTORE or root), then the path inside the tracee's mount
// namespace, then the path as we see it. A file on the same device with a
// different inode was replaced after it was mapped (e.g. a package upgrade)
// and would yield wrong addresses, so it is refused. A different device is
// tolerated because overlay filesystems report differing devices/inodes.
Result<UniqueFd> open_mapped_file(pid_t pid, const MappedFile& file) {
    const MapEntry& first = file.mappings.front();
    char range[64];
    std::snprintf(range, sizeof range, "%llx-%llx", static_cast<unsigned long long>(first.start),
                  static_cast<unsigned long long>(first.end));
    std::string proc = "/proc/" + std::to_string(pid);
    const std::string candidates[] = {proc + "/map_files/" + range, proc + "/root" + file.path,
                                      file.path};

    UniqueFd fallback;
    int last_errno = ENOENT;
    bool replaced = false;
    for (const std::string& path : candidates) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.valid()) {
            last_errno = errno;
            continue;
        }
        struct stat st;
        if (::fstat(fd.get(), &st) != 0)
            continue;
        if (st.st_ino == file.inode)
            return fd;
        if (same_device(file.dev, st.st_dev)) {
            replaced = true;
        } else if (!fallback.valid()) {
            fallback = std::move(fd);
        }
    }
    if (fallback.valid())
        return fallback;
    if (replaced) {
        return make_error(ErrorKind::Unsupported,
                          file.path + " was replaced on disk after it was mapped");
    }
    return Error::from_errno("cannot open " + file.path, last_errno);
}

Result<ModuleSymbols> load_file_symbols(pid_t pid, const MappedFile& file) {
    auto fd = open_mapped_file(pid, file);
    if (!fd.ok())
        return std::move(fd).error();
    return read_module_symbols(fd->get(), file);
}

// The mapped file holding addr, or nullptr.
const MappedFile* file_containing(const std::vector<MappedFile>& files, uint64_t addr) {
    for (const MappedFile& f : files) {
        for (const MapEntry& m : f.mappings) {
            if (m.contains(addr))
                return &f;
        }
    }
    return nullptr;
}

std::string list_basenames(const std::vector<const MappedFile*>& files, size_t limit) {
    std::string out;
    for (size_t i = 0; i < files.size() && i < limit; ++i) {
        if (i != 0)
            out += ", ";
        out += path_basename(files[i]->path);
    }
    if (files.size() > limit)
        out += ", ...";
    return out;
}

// `files_tid`: the thread of `pid` whose /proc files are read.
Result<ResolvedTarget> resolve_address(pid_t pid, pid_t files_tid,
                                       const std::vector<MapEntry>& maps, uint64_t addr) {
    const MapEntry* mapping = find_mapping(maps, addr);
    if (mapping == nullptr || !mapping->executable()) {
        return make_error(ErrorKind::InvalidArgument, hex_address(addr) +
                                                          " is not in executable memory of pid " +
                                                          std::to_string(pid));
    }
    ResolvedTarget out;
    out.address = addr;
    std::vector<MappedFile> files = group_mapped_files(maps);
    const MappedFile* file = file_containing(files, addr);
    // JIT code and [vdso] have no file; a bare address is still probeable.
    if (file == nullptr)
        return out;
    out.module = file->path;
    auto symbols = load_file_symbols(files_tid, *file);
    if (!symbols.ok())
        return out;
    if (const SymbolInfo* sym = find_containing_symbol(symbols->symbols, addr)) {
        out.symbol = sym->demangled;
        out.offset = addr - sym->address;
        out.symbol_size = sym->size;
    }
    return out;
}

} // namespace

Result<ResolvedTarget> resolve_target(pid_t pid, std::string_view spec, pid_t files_tid) {
    if (files_tid == 0)
        files_tid = pid;
    auto parsed = parse_target(spec);
    if (!parsed.ok())
        return std::move(parsed).error();
    auto maps = read_proc_maps(files_tid);
    if (!maps.ok()) {
        if (files_tid == pid)
            return std::move(maps).error();
        return make_error(maps.error().kind, "pid " + std::to_string(pid) +
                                                 " (read through thread " +
                                                 std::to_string(files_tid) +
                                                 "): " + maps.error().message);
    }
    if (parsed->is_address)
        return resolve_address(pid, files_tid, *maps, parsed->address);

    // Only files with executable mappings can hold probeable functions; this
    // also skips data files such as locale archives.
    std::vector<MappedFile> files = group_mapped_files(*maps);
    std::vector<const MappedFile*> modules;
    for (const MappedFile& f : files) {
        if (f.executable())
            modules.push_back(&f);
    }
    const std::string pid_text = std::to_string(pid);

    if (!parsed->lib.empty()) {
        std::vector<std::string> paths;
        for (const MappedFile* f : modules)
            paths.push_back(f->path);
        std::vector<const MappedFile*> selected;
        for (size_t i : filter_modules_by_lib(paths, parsed->lib))
            selected.push_back(modules[i]);
        if (selected.empty()) {
            return make_error(ErrorKind::NotFound,
                              "no module matching '" + parsed->lib + "' is loaded in pid " +
                                  pid_text + " (loaded: " + list_basenames(modules, 10) + ")");
        }
        modules = std::move(selected);
    }

    std::vector<SymbolInfo> symbols;
    std::string unreadable;
    for (const MappedFile* f : modules) {
        auto loaded = load_file_symbols(files_tid, *f);
        if (!loaded.ok()) {
            unreadable += (unreadable.empty() ? "" : "; ") + loaded.error().message;
            continue;
        }
        auto& syms = loaded->symbols;
        symbols.insert(symbols.end(), std::make_move_iterator(syms.begin()),
                       std::make_move_iterator(syms.end()));
    }

    constexpr size_t kListedModules = 5;
    std::string searched = std::to_string(modules.size()) +
                           (modules.size() == 1 ? " module" : " modules") + " of pid " + pid_text;
    if (!parsed->lib.empty())
        searched += " matching '" + parsed->lib + "'";
    if (!modules.empty() && modules.size() <= kListedModules) {
        searched += " (" + list_basenames(modules, kListedModules) + ")";
    }
    if (!unreadable.empty())
        searched += "; unreadable: " + unreadable;
    return select_symbol(symbols, *parsed, searched);
}

Result<std::vector<FunctionDefinition>> find_definitions(pid_t pid,
                                                         const std::vector<std::string>& names,
                                                         const std::set<std::string>& skip,
                                                         std::vector<std::string>& scanned) {
    auto maps = read_proc_maps(pid);
    if (!maps.ok())
        return std::move(maps).error();
    std::vector<FunctionDefinition> out;
    for (const MappedFile& f : group_mapped_files(*maps)) {
        if (!f.executable() || skip.count(f.path))
            continue;
        scanned.push_back(f.path);
        auto loaded = load_file_symbols(pid, f);
        if (!loaded.ok())
            continue; // a module we cannot read cannot be hooked either
        for (const SymbolInfo& sym : loaded->symbols) {
            if (sym.size == 0 || std::find(names.begin(), names.end(), sym.name) == names.end())
                continue;
            bool seen = false;
            for (const auto& d : out)
                seen |= d.address == sym.address;
            if (!seen)
                out.push_back({sym.name, f.path, sym.address});
        }
    }
    return out;
}

std::string describe_address(pid_t pid, uint64_t addr) {
    auto maps = read_proc_maps(pid);
    if (!maps.ok())
        return hex_address(addr);
    std::vector<MappedFile> files = group_mapped_files(*maps);
    const MappedFile* file = file_containing(files, addr);
    if (file == nullptr)
        return hex_address(addr);
    auto symbols = load_file_symbols(pid, *file);
    if (!symbols.ok())
        return hex_address(addr);
    const SymbolInfo* sym = find_containing_symbol(symbols->symbols, addr);
    if (sym == nullptr)
        return hex_address(addr);
    return std::string(path_basename(file->path)) + ":" + sym->demangled + "+" +
           hex_address(addr - sym->address);
}

} // namespace probed
