#include "daemon/symbol_resolver.h"

#include "common/remote_ptr.h"
#include "daemon/elf_symbols.h"
#include "daemon/proc_maps.h"
#include "daemon/symbol_match.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

// Functions with known names and addresses in this very process. The volatile
// sink keeps them from being folded or reduced to a few bytes.
volatile int probed_test_sink;

extern "C" __attribute__((noinline)) int probed_test_marker_fn(int x) {
    probed_test_sink = x;
    return probed_test_sink + 1;
}

namespace probed_test {
struct S {
    static int method(int);
};
__attribute__((noinline)) int S::method(int x) {
    probed_test_sink = x ^ 0x5a;
    return probed_test_sink;
}
// Two overloads: a real ambiguity for the unqualified name.
__attribute__((noinline)) int overloaded(int x) {
    probed_test_sink = x + 7;
    return probed_test_sink;
}
__attribute__((noinline)) double overloaded(double x) {
    probed_test_sink = static_cast<int>(x * 2.5);
    return probed_test_sink * 1.5;
}
} // namespace probed_test

using namespace probed;

namespace {

uint64_t addr_of(int (*fn)(int)) {
    return reinterpret_cast<uint64_t>(fn);
}

std::string self_exe() {
    char exe[4096] = {};
    REQUIRE(readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
    return exe;
}

// A pid that can never exist: pid_max is at most 2^22.
constexpr pid_t kNoSuchPid = 0x7ffffffe;

SymbolInfo sym(std::string module, std::string name, uint64_t address, uint64_t size,
               SymbolBinding binding = SymbolBinding::Global) {
    SymbolInfo s;
    s.module = std::move(module);
    s.name = std::move(name);
    s.demangled = demangle_symbol(s.name);
    s.address = address;
    s.size = size;
    s.binding = binding;
    return s;
}

ParsedTarget named(std::string name, uint64_t offset = 0) {
    ParsedTarget t;
    t.name = std::move(name);
    t.offset = offset;
    return t;
}

} // namespace

TEST_CASE("parse_target accepts every documented form") {
    struct Case {
        const char* spec;
        const char* lib;
        const char* name;
        uint64_t offset;
    };
    const Case cases[] = {
        {"malloc", "", "malloc", 0},
        {"  malloc  ", "", "malloc", 0},
        {"libc:malloc", "libc", "malloc", 0},
        {"libc.so.6:malloc", "libc.so.6", "malloc", 0},
        {"malloc+0x10", "", "malloc", 0x10},
        {"malloc+0X1f", "", "malloc", 0x1f},
        {"malloc+16", "", "malloc", 16},
        {"libc:malloc+0x4", "libc", "malloc", 4},
        {"ns::f", "", "ns::f", 0},
        {"a::b::c", "", "a::b::c", 0},
        {"libfoo:ns::S::f", "libfoo", "ns::S::f", 0},
        {"ns::f(int, char const*)", "", "ns::f(int, char const*)", 0},
        {"ns::f(int, char const*)+0x8", "", "ns::f(int, char const*)", 8},
        {"libstdc++:std::foo", "libstdc++", "std::foo", 0},
        {"libstdc++.so.6:std::foo+2", "libstdc++.so.6", "std::foo", 2},
        {"ns::S::operator+", "", "ns::S::operator+", 0},
        {"ns::S::operator++", "", "ns::S::operator++", 0},
        {"ns::S::operator+(int)", "", "ns::S::operator+(int)", 0},
        {"ns::S::operator+=(int)+0x3", "", "ns::S::operator+=(int)", 3},
        {"(anonymous namespace)::f", "", "(anonymous namespace)::f", 0},
        {"f(std::map<int, int> const&)", "", "f(std::map<int, int> const&)", 0},
    };
    for (const Case& c : cases) {
        CAPTURE(c.spec);
        auto r = parse_target(c.spec);
        REQUIRE(r.ok());
        CHECK_FALSE(r->is_address);
        CHECK(r->lib == c.lib);
        CHECK(r->name == c.name);
        CHECK(r->offset == c.offset);
    }

    auto addr = parse_target("0x7f00dead1000");
    REQUIRE(addr.ok());
    CHECK(addr->is_address);
    CHECK(addr->address == 0x7f00dead1000ULL);
    CHECK(addr->name.empty());
    auto upper = parse_target("0XABC");
    REQUIRE(upper.ok());
    CHECK(upper->address == 0xabc);
}

TEST_CASE("parse_target rejects malformed forms with a message") {
    const char* bad[] = {"",
                         "   ",
                         ":foo",
                         "lib:",
                         "0xZZ",
                         "0x",
                         "f+",
                         "f+0xZZ",
                         "f+12abc",
                         "+0x10",
                         "lib:+4",
                         "a:b:c",
                         "a:::b",
                         "lib:0x1234",
                         "123abc",
                         "0x1+0x2",
                         "0x1ffffffffffffffff",
                         "f+99999999999999999999999"};
    for (const char* spec : bad) {
        CAPTURE(spec);
        auto r = parse_target(spec);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::InvalidArgument);
        CHECK_FALSE(r.error().message.empty());
    }
}

TEST_CASE("parse_proc_maps handles files, deleted files, pseudo and anonymous entries") {
    const char* text =
        "55e0c0a00000-55e0c0a02000 r--p 00000000 fd:01 1311 /usr/bin/cat\n"
        "55e0c0a02000-55e0c0a07000 r-xp 00002000 fd:01 1311 /usr/bin/cat\n"
        "55e0c1b1e000-55e0c1b3f000 rw-p 00000000 00:00 0                          [heap]\n"
        "7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 \n"
        "7f1e2d000000-7f1e2d001000 r-xp 00000000 00:00 0\n"
        "7f1e2e000000-7f1e2e010000 r-xp 00001000 08:02 77   /opt/my app/lib thing.so\n"
        "7f1e2f000000-7f1e2f004000 r-xs 00000000 00:05 4242 /memfd:jit (deleted)\n"
        "7f1e30000000-7f1e30004000 r-xp 00000000 fd:01 999  /tmp/old lib.so (deleted)\n"
        "7ffd5a3fe000-7ffd5a400000 r-xp 00000000 00:00 0                          [vdso]\n"
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n";
    auto r = parse_proc_maps(text);
    REQUIRE(r.ok());
    const auto& m = *r;
    REQUIRE(m.size() == 10);

    CHECK(m[0].start == 0x55e0c0a00000ULL);
    CHECK(m[0].end == 0x55e0c0a02000ULL);
    CHECK(m[0].perms == "r--p");
    CHECK(m[0].dev == "fd:01");
    CHECK(m[0].inode == 1311);
    CHECK(m[0].path == "/usr/bin/cat");
    CHECK(m[0].readable());
    CHECK_FALSE(m[0].executable());
    CHECK(m[1].executable());
    CHECK(m[1].offset == 0x2000);
    CHECK(m[1].file_backed());

    CHECK(m[2].path == "[heap]");
    CHECK(m[2].writable());
    CHECK_FALSE(m[2].file_backed());
    CHECK(m[3].path.empty());
    CHECK(m[4].path.empty());
    CHECK(m[4].executable());

    CHECK(m[5].path == "/opt/my app/lib thing.so");
    CHECK(m[5].offset == 0x1000);
    CHECK_FALSE(m[5].deleted);
    CHECK(m[6].path == "/memfd:jit");
    CHECK(m[6].deleted);
    CHECK(m[6].shared());
    CHECK(m[7].path == "/tmp/old lib.so");
    CHECK(m[7].deleted);
    CHECK(m[8].path == "[vdso]");
    CHECK(m[9].start == 0xffffffffff600000ULL);
    CHECK(m[9].path == "[vsyscall]");

    CHECK(find_mapping(m, 0x55e0c0a02010ULL) == &m[1]);
    CHECK(find_mapping(m, 0x55e0c0a00000ULL) == &m[0]);
    CHECK(find_mapping(m, 0x55e0c0a07000ULL) == nullptr); // end is exclusive
    CHECK(find_mapping(m, 0x1000) == nullptr);

    auto files = group_mapped_files(m);
    REQUIRE(files.size() == 4);
    CHECK(files[0].path == "/usr/bin/cat");
    CHECK(files[0].mappings.size() == 2);
    CHECK(files[0].start() == 0x55e0c0a00000ULL);
    CHECK(files[0].executable());
    CHECK(files[1].path == "/opt/my app/lib thing.so");
    CHECK(files[2].path == "/memfd:jit");
    CHECK(files[3].deleted);

    auto bad = parse_proc_maps("55e0c0a00000 r--p 00000000 fd:01 1311 /usr/bin/cat\n");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().kind == ErrorKind::InvalidArgument);
    CHECK(bad.error().message.find("line 1") != std::string::npos);
}

TEST_CASE("group_mapped_files splits a second load of the same file") {
    auto r = parse_proc_maps("1000-2000 r-xp 00000000 fd:01 5 /lib/a.so\n"
                             "2000-3000 rw-p 00001000 fd:01 5 /lib/a.so\n"
                             "3000-4000 rw-p 00000000 00:00 0\n"
                             "4000-5000 r-xp 00000000 fd:01 6 /lib/b.so\n"
                             "9000-a000 r-xp 00000000 fd:01 5 /lib/a.so\n");
    REQUIRE(r.ok());
    auto files = group_mapped_files(*r);
    REQUIRE(files.size() == 3);
    CHECK(files[0].mappings.size() == 2);
    CHECK(files[1].path == "/lib/b.so");
    CHECK(files[2].path == "/lib/a.so");
    CHECK(files[2].start() == 0x9000);
}

TEST_CASE("load_bias_for_mapping for PIE and non-PIE layouts") {
    // A PIE: segments from vaddr 0, mapped at 0x555555554000.
    std::vector<LoadSegment> pie = {{0, 0}, {0x1000, 0x1000}, {0x2df0, 0x3df0}};
    CHECK(load_bias_for_mapping(pie, 0x555555554000ULL, 0, 0x1000) == 0x555555554000ULL);
    CHECK(load_bias_for_mapping(pie, 0x555555555000ULL, 0x1000, 0x1000) == 0x555555554000ULL);
    // The data segment's offset and vaddr are page-aligned down.
    CHECK(load_bias_for_mapping(pie, 0x555555557000ULL, 0x2000, 0x1000) == 0x555555554000ULL);
    // ET_EXEC: mapped where linked, so the bias is zero.
    std::vector<LoadSegment> exec = {{0, 0x400000}, {0x1000, 0x401000}};
    CHECK(load_bias_for_mapping(exec, 0x400000, 0, 0x1000) == 0);
    CHECK(load_bias_for_mapping(exec, 0x401000, 0x1000, 0x1000) == 0);
    CHECK_FALSE(load_bias_for_mapping(exec, 0x400000, 0x5000, 0x1000).has_value());
}

TEST_CASE("demangling and parameter stripping") {
    CHECK(demangle_symbol("_ZN11probed_test1S6methodEi") == "probed_test::S::method(int)");
    CHECK(demangle_symbol("malloc") == "malloc");
    CHECK(demangle_symbol("_Znot_valid") == "_Znot_valid");

    CHECK(strip_parameters("ns::S::f(int)") == "ns::S::f");
    CHECK(strip_parameters("ns::S::f(int) const") == "ns::S::f");
    CHECK(strip_parameters("f(void (*)(int), char)") == "f");
    CHECK(strip_parameters("(anonymous namespace)::g()") == "(anonymous namespace)::g");
    CHECK(strip_parameters("ns::S::operator()(int)") == "ns::S::operator()");
    CHECK(strip_parameters("f(int) [clone .cold]") == "f(int) [clone .cold]");
    CHECK(strip_parameters("(anonymous namespace)") == "(anonymous namespace)");
    CHECK(strip_parameters("plain") == "plain");

    SymbolInfo s = sym("/x", "_ZNK2ns1S3getEv", 0x1000, 8);
    REQUIRE(s.demangled == "ns::S::get() const");
    CHECK(symbol_name_matches(s, "_ZNK2ns1S3getEv"));
    CHECK(symbol_name_matches(s, "ns::S::get() const"));
    CHECK(symbol_name_matches(s, "ns::S::get"));
    CHECK_FALSE(symbol_name_matches(s, "get"));
    CHECK_FALSE(symbol_name_matches(s, "ns::S::get()"));
}

TEST_CASE("filter_modules_by_lib prefers soname-like matches") {
    std::vector<std::string> paths = {"/usr/bin/app", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                      "/usr/lib/x86_64-linux-gnu/libcap.so.2",
                                      "/opt/vendor/plugins/libz-1.2.so"};
    CHECK(filter_modules_by_lib(paths, "libc") == std::vector<size_t>{1});
    CHECK(filter_modules_by_lib(paths, "libc.so.6") == std::vector<size_t>{1});
    CHECK(filter_modules_by_lib(paths, "libz") == std::vector<size_t>{3});
    CHECK(filter_modules_by_lib(paths, "app") == std::vector<size_t>{0});
    // No soname-like match: fall back to prefixes and path substrings.
    CHECK(filter_modules_by_lib(paths, "libca") == std::vector<size_t>{2});
    CHECK(filter_modules_by_lib(paths, "vendor") == std::vector<size_t>{3});
    CHECK(filter_modules_by_lib(paths, "x86_64-linux-gnu") == std::vector<size_t>{1, 2});
    CHECK(filter_modules_by_lib(paths, "nothing").empty());
}

TEST_CASE("select_symbol over synthetic symbol lists") {
    std::vector<SymbolInfo> syms = {
        sym("/usr/bin/app", "main", 0x1000, 0x40),
        sym("/lib/libc.so.6", "getpid", 0x7000, 8, SymbolBinding::Weak),
        sym("/lib/libc.so.6", "__getpid", 0x7000, 8),
        sym("/lib/libc.so.6", "__GI___getpid", 0x7000, 0, SymbolBinding::Local),
        sym("/usr/bin/app", "helper", 0x1100, 0x20),
        sym("/lib/libfoo.so", "helper", 0x9100, 0x30),
        sym("/usr/bin/app", "_ZN2ns1fEi", 0x1200, 0x10),
        sym("/usr/bin/app", "_ZN2ns1fEd", 0x1300, 0x10),
        sym("/usr/bin/app", "nosize", 0x1400, 0),
    };

    SUBCASE("aliases at one address are one match") {
        auto r = select_symbol(syms, named("getpid"), "test");
        REQUIRE(r.ok());
        CHECK(r->address == 0x7000);
        CHECK(r->symbol == "getpid");
        CHECK(r->module == "/lib/libc.so.6");
        CHECK(r->symbol_size == 8);
    }
    SUBCASE("offset is applied and bounded by the size") {
        auto r = select_symbol(syms, named("main", 0x3f), "test");
        REQUIRE(r.ok());
        CHECK(r->address == 0x103f);
        CHECK(r->offset == 0x3f);
        auto over = select_symbol(syms, named("main", 0x40), "test");
        REQUIRE_FALSE(over.ok());
        CHECK(over.error().kind == ErrorKind::InvalidArgument);
        // Unknown size: any offset is taken on trust.
        auto unsized = select_symbol(syms, named("nosize", 0x100), "test");
        REQUIRE(unsized.ok());
        CHECK(unsized->address == 0x1500);
    }
    SUBCASE("the same name in two modules is ambiguous") {
        auto r = select_symbol(syms, named("helper"), "test");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::Ambiguous);
        CHECK(r.error().message.find("app:helper@0x1100") != std::string::npos);
        CHECK(r.error().message.find("libfoo.so:helper@0x9100") != std::string::npos);
    }
    SUBCASE("overloads are ambiguous without a signature, unique with one") {
        auto r = select_symbol(syms, named("ns::f"), "test");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::Ambiguous);
        CHECK(r.error().message.find("ns::f(int)@0x1200") != std::string::npos);
        auto one = select_symbol(syms, named("ns::f(double)"), "test");
        REQUIRE(one.ok());
        CHECK(one->address == 0x1300);
        CHECK(one->symbol == "ns::f(double)");
    }
    SUBCASE("not found names what was searched and suggests close names") {
        auto r = select_symbol(syms, named("help"), "2 modules of pid 1");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::NotFound);
        CHECK(r.error().message.find("2 modules of pid 1") != std::string::npos);
        CHECK(r.error().message.find("did you mean: helper") != std::string::npos);
        auto none = select_symbol(syms, named("zzz"), "x");
        REQUIRE_FALSE(none.ok());
        CHECK(none.error().message.find("did you mean") == std::string::npos);
    }
    SUBCASE("find_containing_symbol prefers sized, public names") {
        const SymbolInfo* s = find_containing_symbol(syms, 0x7004);
        REQUIRE(s != nullptr);
        CHECK(s->name == "getpid");
        CHECK(find_containing_symbol(syms, 0x1400)->name == "nosize");
        CHECK(find_containing_symbol(syms, 0x1401) == nullptr);
        CHECK(find_containing_symbol(syms, 0x1040) == nullptr);
    }
}

TEST_CASE("read_proc_maps of this process and of a missing one") {
    auto self = read_proc_maps(getpid());
    REQUIRE(self.ok());
    CHECK(find_mapping(*self, addr_of(&probed_test_marker_fn)) != nullptr);
    CHECK(find_mapping(*self, addr_of(&probed_test_marker_fn))->executable());

    auto gone = read_proc_maps(kNoSuchPid);
    REQUIRE_FALSE(gone.ok());
    CHECK(gone.error().kind == ErrorKind::NotFound);
    CHECK(gone.error().message == "no such process " + std::to_string(kNoSuchPid));
}

TEST_CASE("resolve_target against this process") {
    const pid_t self = getpid();
    const uint64_t marker = addr_of(&probed_test_marker_fn);
    const uint64_t method = addr_of(&probed_test::S::method);

    SUBCASE("a C function in the executable") {
        auto r = resolve_target(self, "probed_test_marker_fn");
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        CHECK(r->address == marker);
        CHECK(r->symbol == "probed_test_marker_fn");
        CHECK(r->symbol_size > 4);
        CHECK(r->module == self_exe());
    }
    SUBCASE("name+offset") {
        auto r = resolve_target(self, "probed_test_marker_fn+0x4");
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        CHECK(r->address == marker + 4);
        CHECK(r->offset == 4);
        auto beyond = resolve_target(self, "probed_test_marker_fn+0x100000");
        REQUIRE_FALSE(beyond.ok());
        CHECK(beyond.error().kind == ErrorKind::InvalidArgument);
    }
    SUBCASE("a C++ method by mangled and demangled names") {
        const std::string qualified =
            std::string(path_basename(self_exe())) + ":probed_test::S::method";
        for (const char* spec : {"probed_test::S::method", "probed_test::S::method(int)",
                                 "_ZN11probed_test1S6methodEi", qualified.c_str()}) {
            CAPTURE(spec);
            auto r = resolve_target(self, spec);
            REQUIRE_MESSAGE(r.ok(), r.error().message);
            CHECK(r->address == method);
            CHECK(r->symbol == "probed_test::S::method(int)");
        }
    }
    SUBCASE("libc:getpid is libc's own getpid") {
        auto r = resolve_target(self, "libc:getpid");
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        // Built as PIE, &getpid is loaded from the GOT: libc's real address,
        // not a PLT stub in this executable.
        CHECK(r->address == reinterpret_cast<uint64_t>(&::getpid));
        CHECK(path_basename(r->module).starts_with("libc.so"));
        // With libc6-dbg installed, ld.so's symtab has a private getpid of
        // its own, so the bare name is ambiguous; with only .dynsym it is not.
        auto unqualified = resolve_target(self, "getpid");
        if (unqualified.ok()) {
            CHECK(unqualified->address == r->address);
        } else {
            CHECK(unqualified.error().kind == ErrorKind::Ambiguous);
            CHECK(unqualified.error().message.find("libc.so.6:getpid@" + hex_address(r->address)) !=
                  std::string::npos);
        }
    }
    SUBCASE("a bare address") {
        auto r = resolve_target(self, hex_address(marker));
        REQUIRE_MESSAGE(r.ok(), r.error().message);
        CHECK(r->address == marker);
        CHECK(r->symbol == "probed_test_marker_fn");
        CHECK(r->offset == 0);
        auto inside = resolve_target(self, hex_address(marker + 2));
        REQUIRE(inside.ok());
        CHECK(inside->symbol == "probed_test_marker_fn");
        CHECK(inside->offset == 2);
        auto data =
            resolve_target(self, hex_address(reinterpret_cast<uint64_t>(&probed_test_sink)));
        REQUIRE_FALSE(data.ok());
        CHECK(data.error().kind == ErrorKind::InvalidArgument);
        CHECK(data.error().message.find("not in executable memory") != std::string::npos);
    }
    SUBCASE("overloads are ambiguous") {
        auto r = resolve_target(self, "probed_test::overloaded");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::Ambiguous);
        CHECK(r.error().message.find("probed_test::overloaded(int)@0x") != std::string::npos);
        CHECK(r.error().message.find("probed_test::overloaded(double)@0x") != std::string::npos);
        auto one = resolve_target(self, "probed_test::overloaded(double)");
        REQUIRE_MESSAGE(one.ok(), one.error().message);
        double (*fn)(double) = &probed_test::overloaded;
        CHECK(one->address == reinterpret_cast<uint64_t>(fn));
    }
    SUBCASE("missing symbols and libraries") {
        auto r = resolve_target(self, "probed_test_marker");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::NotFound);
        CHECK(r.error().message.find("modules of pid") != std::string::npos);
        CHECK(r.error().message.find("probed_test_marker_fn") != std::string::npos);
        auto lib = resolve_target(self, "libdoesnotexist:malloc");
        REQUIRE_FALSE(lib.ok());
        CHECK(lib.error().kind == ErrorKind::NotFound);
        CHECK(lib.error().message.find("libdoesnotexist") != std::string::npos);
    }
    SUBCASE("an unknown pid") {
        auto r = resolve_target(kNoSuchPid, "malloc");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::NotFound);
        CHECK(r.error().message.find("no such process") != std::string::npos);
    }
}

TEST_CASE("describe_address") {
    const pid_t self = getpid();
    const uint64_t marker = addr_of(&probed_test_marker_fn);
    std::string d = describe_address(self, marker + 3);
    CHECK(d.ends_with(":probed_test_marker_fn+0x3"));
    CHECK(d.starts_with(std::string(path_basename(self_exe())) + ":"));
    CHECK(describe_address(self, 0x10) == "0x10");
    CHECK(describe_address(kNoSuchPid, 0x1234) == "0x1234");
}
