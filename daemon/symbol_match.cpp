#include "daemon/symbol_match.h"

#include "common/remote_ptr.h"

#include <cxxabi.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>

namespace probed {
namespace {

std::string_view trim(std::string_view s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos)
        return {};
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool has_hex_prefix(std::string_view s) {
    return s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

// "0x1f" (hex) or "31" (decimal), the whole text, no overflow.
bool parse_uint(std::string_view s, uint64_t& out) {
    int base = 10;
    if (has_hex_prefix(s)) {
        s.remove_prefix(2);
        base = 16;
    }
    if (s.empty())
        return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return ec == std::errc() && ptr == s.data() + s.size();
}

Error invalid_target(std::string_view spec, std::string_view why) {
    return make_error(ErrorKind::InvalidArgument,
                      "invalid probe target '" + std::string(spec) + "': " + std::string(why));
}

// Position of the single ':' separating lib from name, npos if there is none.
// Runs of two colons are C++ scope operators; other run lengths are errors.
Result<size_t> find_lib_separator(std::string_view s, std::string_view spec) {
    size_t sep = std::string_view::npos;
    for (size_t i = 0; i < s.size();) {
        if (s[i] != ':') {
            ++i;
            continue;
        }
        size_t run = s.find_first_not_of(':', i);
        if (run == std::string_view::npos)
            run = s.size();
        size_t len = run - i;
        if (len == 1) {
            if (sep != std::string_view::npos) {
                return invalid_target(spec, "more than one library separator ':'");
            }
            sep = i;
        } else if (len != 2) {
            return invalid_target(spec, "unexpected run of ':'");
        }
        i = run;
    }
    return sep;
}

// Splits "name+OFF" into name and offset. A '+' counts as an offset marker
// only when a number follows it, so "operator+" and "operator+=(...)" stay
// names.
Result<std::pair<std::string_view, uint64_t>> split_offset(std::string_view name,
                                                           std::string_view spec) {
    size_t plus = name.rfind('+');
    if (plus == std::string_view::npos)
        return std::pair{name, uint64_t{0}};
    std::string_view before = trim(name.substr(0, plus));
    std::string_view after = trim(name.substr(plus + 1));
    if (after.empty()) {
        std::string_view op = before;
        while (!op.empty() && op.back() == '+')
            op.remove_suffix(1);
        if (op.ends_with("operator"))
            return std::pair{name, uint64_t{0}};
        return invalid_target(spec, "missing offset after '+'");
    }
    if (!is_digit(after.front()))
        return std::pair{name, uint64_t{0}};
    uint64_t offset = 0;
    if (!parse_uint(after, offset)) {
        return invalid_target(spec, "bad offset '" + std::string(after) + "'");
    }
    return std::pair{before, offset};
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

size_t leading_underscores(const std::string& s) {
    size_t n = s.find_first_not_of('_');
    return n == std::string::npos ? s.size() : n;
}

// Among aliases, the public spelling: getpid over __getpid over __GI___getpid.
bool preferred_alias(const SymbolInfo& a, const SymbolInfo& b) {
    // Underscores first: glibc often makes the public name the weak alias.
    size_t ua = leading_underscores(a.name), ub = leading_underscores(b.name);
    if (ua != ub)
        return ua < ub;
    if (a.binding != b.binding)
        return a.binding < b.binding;
    if (a.name.size() != b.name.size())
        return a.name.size() < b.name.size();
    return a.name < b.name;
}

// What to show a user for a symbol: C++ names without their parameters.
std::string_view display_name(const SymbolInfo& sym) {
    if (sym.demangled == sym.name)
        return sym.name;
    return strip_parameters(sym.demangled);
}

std::string suggestions(const std::vector<SymbolInfo>& symbols, std::string_view query) {
    constexpr size_t kMaxSuggestions = 5;
    std::string needle = lower(strip_parameters(query));
    std::set<std::string_view> seen;
    std::vector<std::string_view> found;
    for (const SymbolInfo& sym : symbols) {
        std::string_view shown = display_name(sym);
        if (shown == query || seen.count(shown) != 0)
            continue;
        if (lower(shown).find(needle) == std::string::npos)
            continue;
        seen.insert(shown);
        found.push_back(shown);
    }
    if (found.empty())
        return "";
    // Shorter names are likelier to be what was meant than long ones that
    // merely contain the query.
    std::sort(found.begin(), found.end(), [](std::string_view a, std::string_view b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    std::string out = "; did you mean: ";
    for (size_t i = 0; i < found.size() && i < kMaxSuggestions; ++i) {
        if (i != 0)
            out += ", ";
        out += found[i];
    }
    if (found.size() > kMaxSuggestions)
        out += ", ...";
    return out;
}

} // namespace

Result<ParsedTarget> parse_target(std::string_view spec) {
    std::string_view s = trim(spec);
    if (s.empty())
        return invalid_target(spec, "empty target");

    ParsedTarget out;
    if (has_hex_prefix(s)) {
        if (!parse_uint(s, out.address))
            return invalid_target(spec, "bad hexadecimal address");
        out.is_address = true;
        return out;
    }

    auto sep = find_lib_separator(s, spec);
    if (!sep.ok())
        return std::move(sep).error();
    std::string_view name = s;
    if (*sep != std::string_view::npos) {
        std::string_view lib = trim(s.substr(0, *sep));
        name = trim(s.substr(*sep + 1));
        if (lib.empty())
            return invalid_target(spec, "empty library name before ':'");
        if (name.empty())
            return invalid_target(spec, "empty symbol name after ':'");
        out.lib = lib;
    }

    auto split = split_offset(name, spec);
    if (!split.ok())
        return std::move(split).error();
    auto [bare, offset] = *split;
    if (bare.empty())
        return invalid_target(spec, "empty symbol name");
    if (is_digit(bare.front())) {
        return invalid_target(spec, "a symbol name cannot start with a digit "
                                    "(library-relative addresses are not supported)");
    }
    out.name = bare;
    out.offset = offset;
    return out;
}

std::string demangle_symbol(const std::string& raw) {
    if (!raw.starts_with("_Z"))
        return raw;
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> out(
        abi::__cxa_demangle(raw.c_str(), nullptr, nullptr, &status), &std::free);
    if (status != 0 || !out)
        return raw;
    return out.get();
}

std::string_view strip_parameters(std::string_view demangled) {
    std::string_view s = demangled;
    if (s.ends_with(" const"))
        s.remove_suffix(6);
    if (!s.ends_with(')'))
        return demangled;
    int depth = 0;
    for (size_t i = s.size(); i-- > 0;) {
        if (s[i] == ')') {
            ++depth;
        } else if (s[i] == '(' && --depth == 0) {
            // "(anonymous namespace)" alone is not a parameter list.
            if (i == 0)
                return demangled;
            return s.substr(0, i);
        }
    }
    return demangled;
}

bool symbol_name_matches(const SymbolInfo& sym, std::string_view query) {
    if (sym.name == query)
        return true;
    if (sym.demangled == sym.name)
        return false;
    return sym.demangled == query || strip_parameters(sym.demangled) == query;
}

std::string_view path_basename(std::string_view path) {
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::vector<size_t> filter_modules_by_lib(const std::vector<std::string>& paths,
                                          std::string_view lib) {
    std::vector<size_t> exact, loose;
    for (size_t i = 0; i < paths.size(); ++i) {
        std::string_view base = path_basename(paths[i]);
        if (base.starts_with(lib)) {
            std::string_view rest = base.substr(lib.size());
            if (rest.empty() || rest.front() == '.' || rest.front() == '-') {
                exact.push_back(i);
                continue;
            }
            loose.push_back(i);
        } else if (paths[i].find(lib) != std::string::npos) {
            loose.push_back(i);
        }
    }
    return exact.empty() ? loose : exact;
}

Result<ResolvedTarget> select_symbol(const std::vector<SymbolInfo>& symbols,
                                     const ParsedTarget& target, std::string_view searched) {
    struct Candidate {
        const SymbolInfo* best;
        uint64_t size;
    };
    std::map<uint64_t, Candidate> by_address;
    for (const SymbolInfo& sym : symbols) {
        if (!symbol_name_matches(sym, target.name))
            continue;
        auto [it, inserted] = by_address.try_emplace(sym.address, Candidate{&sym, sym.size});
        if (inserted)
            continue;
        // Aliases may disagree on size (one may omit it); the known one wins.
        it->second.size = std::max(it->second.size, sym.size);
        if (preferred_alias(sym, *it->second.best))
            it->second.best = &sym;
    }

    if (by_address.empty()) {
        return make_error(ErrorKind::NotFound, "symbol '" + target.name + "' not found in " +
                                                   std::string(searched) +
                                                   suggestions(symbols, target.name));
    }
    if (by_address.size() > 1) {
        constexpr size_t kMaxListed = 10;
        std::string msg = "symbol '" + target.name + "' is ambiguous (" +
                          std::to_string(by_address.size()) + " addresses): ";
        size_t listed = 0;
        for (const auto& [addr, cand] : by_address) {
            if (listed == kMaxListed) {
                msg += ", ...";
                break;
            }
            if (listed++ != 0)
                msg += ", ";
            msg += std::string(path_basename(cand.best->module)) + ":" + cand.best->demangled +
                   "@" + hex_address(addr);
        }
        msg += "; qualify it with 'lib:', a full signature, or use the address";
        return make_error(ErrorKind::Ambiguous, std::move(msg));
    }

    const Candidate& chosen = by_address.begin()->second;
    if (chosen.size != 0 && target.offset >= chosen.size) {
        return make_error(ErrorKind::InvalidArgument,
                          "offset " + hex_address(target.offset) + " is outside " +
                              chosen.best->demangled + " (size " + hex_address(chosen.size) + ")");
    }
    ResolvedTarget out;
    out.address = chosen.best->address + target.offset;
    out.module = chosen.best->module;
    out.symbol = chosen.best->demangled;
    out.offset = target.offset;
    out.symbol_size = chosen.size;
    return out;
}

const SymbolInfo* find_containing_symbol(const std::vector<SymbolInfo>& symbols, uint64_t addr) {
    const SymbolInfo* best = nullptr;
    for (const SymbolInfo& sym : symbols) {
        bool inside = sym.size != 0 ? addr >= sym.address && addr - sym.address < sym.size
                                    : addr == sym.address;
        if (!inside)
            continue;
        // A sized symbol beats an unsized one at the same spot, then the
        // innermost (highest start), then the public alias.
        if (best == nullptr || (sym.size != 0) > (best->size != 0) ||
            ((sym.size != 0) == (best->size != 0) &&
             (sym.address > best->address ||
              (sym.address == best->address && preferred_alias(sym, *best))))) {
            best = &sym;
        }
    }
    return best;
}

} // namespace probed
