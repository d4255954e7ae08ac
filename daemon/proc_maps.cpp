#include "daemon/proc_maps.h"

#include "common/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace probed {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

// Splits off the next space-delimited field, skipping any run of spaces
// before it.
std::string_view next_field(std::string_view& rest) {
    size_t begin = rest.find_first_not_of(' ');
    if (begin == std::string_view::npos) {
        rest = {};
        return {};
    }
    rest.remove_prefix(begin);
    size_t end = rest.find(' ');
    std::string_view field = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    return field;
}

bool parse_number(std::string_view text, int base, uint64_t& out) {
    if (text.empty())
        return false;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
    return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_line(std::string_view line, MapEntry& entry) {
    std::string_view rest = line;
    std::string_view range = next_field(rest);
    std::string_view perms = next_field(rest);
    std::string_view offset = next_field(rest);
    std::string_view dev = next_field(rest);
    std::string_view inode = next_field(rest);

    size_t dash = range.find('-');
    if (dash == std::string_view::npos)
        return false;
    if (!parse_number(range.substr(0, dash), 16, entry.start))
        return false;
    if (!parse_number(range.substr(dash + 1), 16, entry.end))
        return false;
    if (entry.end < entry.start || perms.size() != 4)
        return false;
    if (!parse_number(offset, 16, entry.offset))
        return false;
    if (dev.find(':') == std::string_view::npos)
        return false;
    if (!parse_number(inode, 10, entry.inode))
        return false;
    entry.perms = perms;
    entry.dev = dev;

    // The kernel pads with spaces before the path; real paths start with '/'
    // or '[', so dropping leading spaces cannot eat part of a name, while
    // spaces inside the name must survive.
    size_t path_begin = rest.find_first_not_of(' ');
    std::string_view path =
        path_begin == std::string_view::npos ? std::string_view{} : rest.substr(path_begin);
    entry.deleted = false;
    if (path.size() > kDeletedSuffix.size() && path.ends_with(kDeletedSuffix) &&
        path.front() == '/') {
        path.remove_suffix(kDeletedSuffix.size());
        entry.deleted = true;
    }
    entry.path = path;
    return true;
}

} // namespace

Result<std::vector<MapEntry>> parse_proc_maps(std::string_view text) {
    std::vector<MapEntry> entries;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++line_no;
        if (line.empty())
            continue;
        MapEntry entry;
        if (!parse_line(line, entry)) {
            return make_error(ErrorKind::InvalidArgument, "malformed maps line " +
                                                              std::to_string(line_no) + ": '" +
                                                              std::string(line) + "'");
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

Result<std::vector<MapEntry>> read_proc_maps(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/maps";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        int err = errno;
        if (err == ENOENT || err == ESRCH) {
            return make_error(ErrorKind::NotFound, "no such process " + std::to_string(pid));
        }
        return Error::from_errno("cannot open " + path, err);
    }
    // One read is not atomic for large maps, but each read returns whole
    // lines, so concatenating gives a consistent-enough snapshot.
    std::string text;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            // The process exited between open and read.
            if (err == ESRCH) {
                return make_error(ErrorKind::ProcessGone,
                                  "process " + std::to_string(pid) + " exited");
            }
            return Error::from_errno("cannot read " + path, err);
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<size_t>(n));
    }
    return parse_proc_maps(text);
}

bool MappedFile::executable() const {
    return std::any_of(mappings.begin(), mappings.end(),
                       [](const MapEntry& e) { return e.executable(); });
}

std::vector<MappedFile> group_mapped_files(const std::vector<MapEntry>& maps) {
    // A loader maps each file into one reserved region, so a file's mappings
    // are consecutive among file-backed entries (anonymous .bss and [heap]
    // may sit between them). A later mapping of the same file after another
    // file is a separate load. Should something ever be mapped into a hole
    // inside a library, that library merely splits into two groups with the
    // same load bias, which callers see as duplicate symbols.
    std::vector<MappedFile> files;
    for (const MapEntry& e : maps) {
        if (!e.file_backed())
            continue;
        bool same_as_last = !files.empty() && files.back().path == e.path &&
                            files.back().inode == e.inode && files.back().dev == e.dev;
        if (!same_as_last) {
            MappedFile f;
            f.path = e.path;
            f.dev = e.dev;
            f.inode = e.inode;
            files.push_back(std::move(f));
        }
        files.back().deleted = files.back().deleted || e.deleted;
        files.back().mappings.push_back(e);
    }
    return files;
}

const MapEntry* find_mapping(const std::vector<MapEntry>& maps, uint64_t addr) {
    auto it = std::upper_bound(maps.begin(), maps.end(), addr,
                               [](uint64_t a, const MapEntry& e) { return a < e.end; });
    if (it == maps.end() || !it->contains(addr))
        return nullptr;
    return &*it;
}

} // namespace probed
