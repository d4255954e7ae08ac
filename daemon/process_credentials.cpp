#include "daemon/process_credentials.h"

#include "common/unique_fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <string>

namespace probed {

namespace {

// The whitespace-separated numbers after "Name:" on one line.
template <typename T> bool parse_numbers(std::string_view rest, std::vector<T>& out, int base) {
    size_t i = 0;
    while (i < rest.size()) {
        while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t')) ++i;
        if (i == rest.size()) break;
        size_t end = i;
        while (end < rest.size() && rest[end] != ' ' && rest[end] != '\t') ++end;
        T value{};
        auto [p, ec] = std::from_chars(rest.data() + i, rest.data() + end, value, base);
        if (ec != std::errc() || p != rest.data() + end) return false;
        out.push_back(value);
        i = end;
    }
    return true;
}

} // namespace

Result<ProcessCredentials> parse_proc_status(std::string_view text) {
    ProcessCredentials creds;
    bool have_uid = false, have_gid = false, have_cap = false;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view key = line.substr(0, colon), rest = line.substr(colon + 1);
        if (key == "Uid" || key == "Gid") {
            // real, effective, saved, filesystem
            std::vector<uint32_t> ids;
            if (!parse_numbers(rest, ids, 10) || ids.size() < 3)
                return make_error(ErrorKind::Io, "malformed " + std::string(key) + " line in status");
            auto& dest = key == "Uid" ? creds.uids : creds.gids;
            for (size_t i = 0; i < 3; ++i) dest[i] = ids[i];
            (key == "Uid" ? have_uid : have_gid) = true;
        } else if (key == "Groups") {
            std::vector<uint32_t> ids;
            if (!parse_numbers(rest, ids, 10))
                return make_error(ErrorKind::Io, "malformed Groups line in status");
            creds.groups.assign(ids.begin(), ids.end());
        } else if (key == "CapEff") {
            std::vector<uint64_t> mask;
            if (!parse_numbers(rest, mask, 16) || mask.size() != 1)
                return make_error(ErrorKind::Io, "malformed CapEff line in status");
            creds.cap_effective = mask[0];
            have_cap = true;
        }
    }
    if (!have_uid || !have_gid || !have_cap)
        return make_error(ErrorKind::Io, "status lacks a Uid, Gid or CapEff line");
    return creds;
}

Result<ProcessCredentials> read_process_credentials(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/status";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0)
        return Error{ErrorKind::NotFound, "no process " + std::to_string(pid), errno};
    std::string text;
    char buf[4096];
    while (true) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("read " + path);
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    auto creds = parse_proc_status(text);
    if (!creds) return creds;
    creds->pid = pid;
    creds->dumpable = st.st_uid == creds->euid() && st.st_gid == creds->gids[1];
    return creds;
}

} // namespace probed
