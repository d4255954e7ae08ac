#include <doctest/doctest.h>

#include "daemon/jsonl_store.h"
#include "temp_dir.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace probed;
using probed::test::TempDir;

namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string line(int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "{\"i\":%05d}\n", i); // 12 bytes each
    return buf;
}

std::string base(const std::string& path) { return std::filesystem::path(path).filename().string(); }

} // namespace

TEST_CASE("appends lines and flushes them to calls.jsonl") {
    TempDir tmp;
    auto s = JsonlStore::open(tmp / "c", {});
    REQUIRE(s.ok());
    REQUIRE(s->append(line(1)).ok());
    REQUIRE(s->append(line(2)).ok());
    CHECK(read_all(tmp / "c/calls.jsonl").empty()); // buffered
    REQUIRE(s->flush().ok());
    CHECK(read_all(tmp / "c/calls.jsonl") == line(1) + line(2));
    auto files = s->files();
    REQUIRE(files.size() == 1);
    CHECK(base(files[0]) == "calls.jsonl");
}

TEST_CASE("rotates by size without splitting a line, and keeps every line") {
    TempDir tmp;
    RotationPolicy p;
    p.max_file_bytes = 50; // four 12-byte lines per file
    p.max_files = 100;
    p.max_total_bytes = 1 << 20;
    auto s = JsonlStore::open(tmp.path(), p);
    REQUIRE(s.ok());
    for (int i = 0; i < 10; ++i) REQUIRE(s->append(line(i)).ok());
    REQUIRE(s->flush().ok());
    auto files = s->files();
    REQUIRE(files.size() == 3);
    CHECK(base(files[0]) == "calls.000001.jsonl");
    CHECK(base(files[1]) == "calls.000002.jsonl");
    CHECK(base(files[2]) == "calls.jsonl");
    CHECK(read_all(files[0]) == line(0) + line(1) + line(2) + line(3));
    CHECK(read_all(files[1]) == line(4) + line(5) + line(6) + line(7));
    CHECK(read_all(files[2]) == line(8) + line(9));
    CHECK(s->rotations() == 2);
}

TEST_CASE("retention by file count deletes the oldest") {
    TempDir tmp;
    RotationPolicy p;
    p.max_file_bytes = 24; // two lines per file
    p.max_files = 3;
    p.max_total_bytes = 1 << 20;
    auto s = JsonlStore::open(tmp.path(), p);
    REQUIRE(s.ok());
    for (int i = 0; i < 12; ++i) REQUIRE(s->append(line(i)).ok());
    REQUIRE(s->flush().ok());
    auto files = s->files();
    REQUIRE(files.size() == 3);
    CHECK(base(files[0]) == "calls.000004.jsonl");
    CHECK(base(files[1]) == "calls.000005.jsonl");
    CHECK(read_all(files[0]) == line(6) + line(7));
    CHECK(read_all(files[2]) == line(10) + line(11));
    CHECK(s->deleted() == 3);
}

TEST_CASE("retention by bytes counts the current file") {
    TempDir tmp;
    RotationPolicy p;
    p.max_file_bytes = 36; // three lines per file
    p.max_files = 100;
    p.max_total_bytes = 80; // two full files (72 bytes) fit, a third does not
    auto s = JsonlStore::open(tmp.path(), p);
    REQUIRE(s.ok());
    for (int i = 0; i < 10; ++i) REQUIRE(s->append(line(i)).ok());
    REQUIRE(s->flush().ok());
    uint64_t total = 0;
    for (const auto& f : s->files()) total += std::filesystem::file_size(f);
    CHECK(total <= 80);
    auto files = s->files();
    // The newest complete file survives next to the current one.
    REQUIRE(files.size() == 2);
    CHECK(read_all(files[0]) == line(6) + line(7) + line(8));
    CHECK(read_all(files[1]) == line(9));
}

TEST_CASE("reopening continues the numbering and the current file") {
    TempDir tmp;
    RotationPolicy p;
    p.max_file_bytes = 24;
    {
        auto s = JsonlStore::open(tmp.path(), p);
        REQUIRE(s.ok());
        for (int i = 0; i < 5; ++i) REQUIRE(s->append(line(i)).ok());
        REQUIRE(s->flush().ok());
    }
    auto s = JsonlStore::open(tmp.path(), p);
    REQUIRE(s.ok());
    REQUIRE(s->append(line(5)).ok());
    REQUIRE(s->append(line(6)).ok());
    REQUIRE(s->flush().ok());
    auto files = s->files();
    REQUIRE(files.size() == 4);
    CHECK(base(files[2]) == "calls.000003.jsonl");
    CHECK(read_all(files[2]) == line(4) + line(5));
    CHECK(read_all(files[3]) == line(6));
}

TEST_CASE("a state dir that cannot be created is an error") {
    TempDir tmp;
    std::ofstream(tmp / "file") << "x";
    auto s = JsonlStore::open(tmp / "file/sub", {});
    CHECK_FALSE(s.ok());
}
