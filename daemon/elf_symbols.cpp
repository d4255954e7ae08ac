#include "daemon/elf_symbols.h"

#include "common/unique_fd.h"
#include "daemon/debuginfo_path.h"

#include <cstdlib>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace probed {
namespace {

// Set in a .gnu.version entry for a non-default version (name@VER rather
// than name@@VER): such a symbol only serves binaries linked against old
// versions, and keeping it would make e.g. libc's memcpy ambiguous.
constexpr GElf_Versym kVersymHidden = 0x8000;

struct ElfCloser {
    void operator()(Elf* elf) const { elf_end(elf); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

// An ELF image we opened ourselves; the descriptor must outlive the handle,
// hence the member order (members are destroyed in reverse).
struct OwnedElf {
    UniqueFd fd;
    ElfPtr elf;
};

const char* elf_error() {
    return elf_errmsg(-1);
}

Result<ElfPtr> begin_elf(int fd, const std::string& what) {
    // libelf refuses to work until told which version the caller expects.
    static const bool initialised = elf_version(EV_CURRENT) != EV_NONE;
    if (!initialised)
        return make_error(ErrorKind::Internal, "libelf version mismatch");
    ElfPtr elf(elf_begin(fd, ELF_C_READ_MMAP, nullptr));
    if (!elf)
        return make_error(ErrorKind::Io, "cannot read " + what + ": " + elf_error());
    if (elf_kind(elf.get()) != ELF_K_ELF) {
        return make_error(ErrorKind::Unsupported, what + " is not an ELF file");
    }
    return elf;
}

Elf_Scn* find_section(Elf* elf, GElf_Word type) {
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == type)
            return scn;
    }
    return nullptr;
}

std::vector<LoadSegment> load_segments(Elf* elf) {
    std::vector<LoadSegment> out;
    size_t count = 0;
    if (elf_getphdrnum(elf, &count) != 0)
        return out;
    for (size_t i = 0; i < count; ++i) {
        GElf_Phdr phdr;
        if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr)
            continue;
        if (phdr.p_type == PT_LOAD)
            out.push_back({phdr.p_offset, phdr.p_vaddr});
    }
    return out;
}

std::string build_id_in_notes(Elf_Data* data) {
    static const char kHex[] = "0123456789abcdef";
    size_t offset = 0, name_offset = 0, desc_offset = 0;
    GElf_Nhdr nhdr;
    while ((offset = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset)) > 0) {
        const auto* bytes = static_cast<const unsigned char*>(data->d_buf);
        if (nhdr.n_type != NT_GNU_BUILD_ID || nhdr.n_namesz != 4 ||
            std::memcmp(bytes + name_offset, "GNU", 4) != 0) {
            continue;
        }
        std::string hex;
        for (size_t i = 0; i < nhdr.n_descsz; ++i) {
            hex += kHex[bytes[desc_offset + i] >> 4];
            hex += kHex[bytes[desc_offset + i] & 0xf];
        }
        return hex;
    }
    return "";
}

// The GNU build-id as lowercase hex, "" if the file has none. Sections are
// tried first; program headers cover files whose section table was removed.
std::string build_id(Elf* elf) {
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE)
            continue;
        if (Elf_Data* data = elf_getdata(scn, nullptr)) {
            std::string id = build_id_in_notes(data);
            if (!id.empty())
                return id;
        }
    }
    size_t count = 0;
    if (elf_getphdrnum(elf, &count) != 0)
        return "";
    for (size_t i = 0; i < count; ++i) {
        GElf_Phdr phdr;
        if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_NOTE) {
            continue;
        }
        if (Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(phdr.p_offset),
                                                  phdr.p_filesz, ELF_T_NHDR)) {
            std::string id = build_id_in_notes(data);
            if (!id.empty())
                return id;
        }
    }
    return "";
}

// Separate debuginfo for a stripped file, found the way gdb does by default.
std::optional<OwnedElf> open_debuginfo(Elf* elf, std::string& path_out) {
    std::string id = build_id(elf);
    if (id.size() < 4)
        return std::nullopt;
    std::string path;
    UniqueFd fd;
    for (const std::string& root : debuginfo_roots()) {
        path = root + "/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
        fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.valid()) break;
    }
    if (!fd.valid())
        return std::nullopt;
    auto debug = begin_elf(fd.get(), path);
    if (!debug.ok())
        return std::nullopt;
    path_out = path;
    return OwnedElf{std::move(fd), std::move(debug).value()};
}

SymbolBinding binding_of(unsigned char info) {
    switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
    case STB_GNU_UNIQUE:
        return SymbolBinding::Global;
    case STB_WEAK:
        return SymbolBinding::Weak;
    default:
        return SymbolBinding::Local;
    }
}

void read_symbol_table(Elf* elf, Elf_Scn* symtab, bool honour_versions, uint64_t bias,
                       const std::string& module, std::vector<SymbolInfo>& out) {
    GElf_Shdr shdr;
    Elf_Data* data = elf_getdata(symtab, nullptr);
    if (gelf_getshdr(symtab, &shdr) == nullptr || data == nullptr || shdr.sh_entsize == 0)
        return;

    Elf_Data* versions = nullptr;
    if (honour_versions) {
        if (Elf_Scn* versym = find_section(elf, SHT_GNU_versym)) {
            versions = elf_getdata(versym, nullptr);
        }
    }

    size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 1; i < count; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr)
            continue;
        int type = GELF_ST_TYPE(sym.st_info);
        // An STT_GNU_IFUNC symbol's value is its resolver, not the
        // implementation the resolver picks at load time. We report the
        // resolver anyway: it is what the name denotes in the file, and
        // following the choice would mean reading the tracee's GOT.
        if (type != STT_FUNC && type != STT_GNU_IFUNC)
            continue;
        // ABS symbols are not relocated with the module, so the bias would
        // place them wrongly.
        if (sym.st_value == 0 || sym.st_shndx == SHN_UNDEF || sym.st_shndx == SHN_ABS)
            continue;
        if (versions != nullptr) {
            GElf_Versym ver = 0;
            if (gelf_getversym(versions, static_cast<int>(i), &ver) != nullptr &&
                (ver & kVersymHidden) != 0) {
                continue;
            }
        }
        const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
        if (name == nullptr || *name == '\0')
            continue;

        SymbolInfo info;
        info.module = module;
        info.name = name;
        info.demangled = demangle_symbol(info.name);
        info.address = sym.st_value + bias;
        info.size = sym.st_size;
        info.binding = binding_of(sym.st_info);
        out.push_back(std::move(info));
    }
}

} // namespace

std::optional<uint64_t> load_bias_for_mapping(const std::vector<LoadSegment>& segments,
                                              uint64_t map_start, uint64_t map_offset,
                                              uint64_t page_size) {
    uint64_t mask = ~(page_size - 1);
    for (const LoadSegment& seg : segments) {
        if ((seg.offset & mask) == map_offset)
            return map_start - (seg.vaddr & mask);
    }
    return std::nullopt;
}

Result<ModuleSymbols> read_module_symbols(int fd, const MappedFile& mapped) {
    auto opened = begin_elf(fd, mapped.path);
    if (!opened.ok())
        return std::move(opened).error();
    Elf* elf = opened->get();

    // The lowest mapping normally matches the first PT_LOAD; later ones are
    // only consulted for odd layouts.
    static const uint64_t page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    std::vector<LoadSegment> segments = load_segments(elf);
    std::optional<uint64_t> bias;
    for (const MapEntry& m : mapped.mappings) {
        if ((bias = load_bias_for_mapping(segments, m.start, m.offset, page_size)))
            break;
    }
    if (!bias) {
        return make_error(ErrorKind::Unsupported, "cannot compute the load bias of " + mapped.path +
                                                      ": no PT_LOAD matches its mappings");
    }

    ModuleSymbols out;
    out.bias = *bias;
    if (Elf_Scn* symtab = find_section(elf, SHT_SYMTAB)) {
        out.source = ".symtab";
        read_symbol_table(elf, symtab, false, out.bias, mapped.path, out.symbols);
        return out;
    }
    // Debuginfo shares the main file's addresses, so the same bias applies.
    std::string debug_path;
    if (std::optional<OwnedElf> debug = open_debuginfo(elf, debug_path)) {
        if (Elf_Scn* symtab = find_section(debug->elf.get(), SHT_SYMTAB)) {
            out.source = debug_path;
            read_symbol_table(debug->elf.get(), symtab, false, out.bias, mapped.path, out.symbols);
            return out;
        }
    }
    if (Elf_Scn* dynsym = find_section(elf, SHT_DYNSYM)) {
        out.source = ".dynsym";
        read_symbol_table(elf, dynsym, true, out.bias, mapped.path, out.symbols);
        return out;
    }
    out.source = "no symbol table";
    return out;
}

} // namespace probed
