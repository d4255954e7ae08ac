#pragma once
// An append-only JSON Lines log in one directory, rotated by size and pruned
// by a retention limit:
//   DIR/calls.jsonl            the file being written
//   DIR/calls.000001.jsonl...  rotated files, numbered in the order written
// Rotation renames the current file to the next number; retention then
// deletes the oldest rotated files until both limits (which count the
// current file too) hold. A line is never split across files.
#include "common/result.h"
#include "common/unique_fd.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace probed {

struct RotationPolicy {
    uint64_t max_file_bytes = 16ull << 20;   // rotate once the current file would exceed this
    size_t max_files = 8;                    // files kept, current included (>= 1)
    uint64_t max_total_bytes = 256ull << 20; // bytes kept, current included
};

class JsonlStore {
public:
    static constexpr const char* kCurrent = "calls.jsonl";

    // Creates `dir` (and parents) if needed and appends to its current file.
    static Result<JsonlStore> open(const std::string& dir, RotationPolicy policy);

    // `line` must end with '\n'. Buffered; written by flush() or when the
    // buffer fills.
    Result<void> append(std::string_view line);
    Result<void> flush();

    // Every file of this store, oldest first (the current one last).
    std::vector<std::string> files() const;
    const std::string& dir() const { return dir_; }
    uint64_t rotations() const { return rotations_; }
    uint64_t deleted() const { return deleted_; }

private:
    JsonlStore() = default;
    Result<void> open_current();
    Result<void> rotate();
    void enforce_retention();
    std::vector<std::pair<uint64_t, std::string>> rotated_files() const; // (number, path), ascending

    std::string dir_;
    RotationPolicy policy_;
    UniqueFd fd_;
    uint64_t size_ = 0; // of the current file, buffered bytes included
    std::string buffer_;
    uint64_t next_number_ = 1;
    uint64_t rotations_ = 0;
    uint64_t deleted_ = 0;
};

// Creates `dir` and any missing parents (mode 0750).
Result<void> make_dirs(const std::string& dir);

} // namespace probed
