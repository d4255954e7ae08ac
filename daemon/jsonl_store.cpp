#include "daemon/jsonl_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace probed {

namespace {

constexpr size_t kBufferLimit = 64 * 1024;

// "calls.000042.jsonl" -> 42; 0 for anything else.
uint64_t rotated_number(const std::string& name) {
    const std::string prefix = "calls.", suffix = ".jsonl";
    if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
        return 0;
    std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) return 0;
    return std::strtoull(digits.c_str(), nullptr, 10);
}

uint64_t file_size(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

} // namespace

Result<void> make_dirs(const std::string& dir) {
    for (size_t i = 1; i <= dir.size(); ++i) {
        if (i != dir.size() && dir[i] != '/') continue;
        std::string part = dir.substr(0, i);
        if (mkdir(part.c_str(), 0750) != 0 && errno != EEXIST) return Error::from_errno("mkdir " + part);
    }
    return {};
}

Result<JsonlStore> JsonlStore::open(const std::string& dir, RotationPolicy policy) {
    JsonlStore s;
    s.dir_ = dir;
    s.policy_ = policy;
    s.policy_.max_files = std::max<size_t>(1, policy.max_files);
    PROBED_TRY(make_dirs(dir));
    auto rotated = s.rotated_files();
    if (!rotated.empty()) s.next_number_ = rotated.back().first + 1;
    PROBED_TRY(s.open_current());
    s.enforce_retention();
    return s;
}

Result<void> JsonlStore::open_current() {
    std::string path = dir_ + "/" + kCurrent;
    fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!fd_.valid()) return Error::from_errno("open " + path);
    size_ = file_size(path);
    return {};
}

Result<void> JsonlStore::append(std::string_view line) {
    if (size_ > 0 && size_ + line.size() > policy_.max_file_bytes) PROBED_TRY(rotate());
    buffer_.append(line);
    size_ += line.size();
    if (buffer_.size() >= kBufferLimit) return flush();
    return {};
}

Result<void> JsonlStore::flush() {
    size_t done = 0;
    while (done < buffer_.size()) {
        ssize_t n = ::write(fd_.get(), buffer_.data() + done, buffer_.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            buffer_.erase(0, done);
            return Error::from_errno("write " + dir_ + "/" + kCurrent, err);
        }
        done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return {};
}

Result<void> JsonlStore::rotate() {
    // The bytes about to cross the limit go to the new file: flush the rest first.
    PROBED_TRY(flush());
    char name[64];
    std::snprintf(name, sizeof name, "calls.%06llu.jsonl", static_cast<unsigned long long>(next_number_));
    std::string from = dir_ + "/" + kCurrent, to = dir_ + "/" + name;
    if (::rename(from.c_str(), to.c_str()) != 0) return Error::from_errno("rename " + from + " to " + to);
    ++next_number_;
    ++rotations_;
    PROBED_TRY(open_current());
    enforce_retention();
    return {};
}

std::vector<std::pair<uint64_t, std::string>> JsonlStore::rotated_files() const {
    std::vector<std::pair<uint64_t, std::string>> out;
    DIR* d = opendir(dir_.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        uint64_t n = rotated_number(e->d_name);
        if (n) out.emplace_back(n, dir_ + "/" + e->d_name);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

void JsonlStore::enforce_retention() {
    auto rotated = rotated_files();
    // Room for the current file to grow to its limit, so the total stays
    // under max_total_bytes between rotations too.
    uint64_t total = std::max(size_, policy_.max_file_bytes);
    for (const auto& [n, path] : rotated) total += file_size(path);
    size_t files = rotated.size() + 1;
    for (const auto& [n, path] : rotated) {
        if (files <= policy_.max_files && total <= policy_.max_total_bytes) break;
        uint64_t bytes = file_size(path);
        if (::unlink(path.c_str()) != 0) continue;
        total -= std::min(total, bytes);
        --files;
        ++deleted_;
    }
}

std::vector<std::string> JsonlStore::files() const {
    std::vector<std::string> out;
    for (const auto& [n, path] : rotated_files()) out.push_back(path);
    out.push_back(dir_ + "/" + kCurrent);
    return out;
}

} // namespace probed
