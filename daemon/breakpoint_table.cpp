#include "daemon/breakpoint_table.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <utility>

namespace probed {

namespace {

std::string hex_address(uint64_t addr) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, addr);
    return buf;
}

} // namespace

BreakpointTable::BreakpointTable(std::vector<uint8_t> trap) : trap_(std::move(trap)) {}

Result<void> BreakpointTable::insert(MemoryAccess& mem, uint64_t addr) {
    if (auto it = entries_.find(addr); it != entries_.end()) {
        ++it->second.refs;
        return {};
    }

    std::vector<uint8_t> original(trap_.size());
    PROBED_TRY(mem.read(addr, original));

    auto written = mem.write(addr, trap_);
    if (!written.ok()) {
        // A multi-byte write may have landed partially before failing; putting
        // the original back is harmless if it did not, and keeps the tracee
        // from executing half a trap if it did. Nothing more can be done if
        // this fails too, so the first error is the one worth reporting.
        (void)mem.write(addr, original);
        return std::move(written).error();
    }

    entries_.emplace(addr, Entry{std::move(original), 1});
    return {};
}

Result<void> BreakpointTable::remove(MemoryAccess& mem, uint64_t addr) {
    auto it = entries_.find(addr);
    if (it == entries_.end()) {
        return make_error(ErrorKind::NotFound, "no breakpoint at " + hex_address(addr));
    }
    if (--it->second.refs > 0) return {};

    // Erase even if the write fails: the usual cause is that the process is
    // gone, and keeping the entry would make every later remove fail too.
    auto restored = mem.write(addr, it->second.original);
    entries_.erase(it);
    return restored;
}

Result<void> BreakpointTable::remove_all(MemoryAccess& mem) {
    Result<void> first;
    for (const auto& [addr, entry] : entries_) {
        auto restored = mem.write(addr, entry.original);
        if (!restored.ok() && first.ok()) first = std::move(restored);
    }
    entries_.clear();
    return first;
}

void BreakpointTable::clear() { entries_.clear(); }

bool BreakpointTable::contains(uint64_t addr) const { return entries_.count(addr) != 0; }

int BreakpointTable::refcount(uint64_t addr) const {
    auto it = entries_.find(addr);
    return it == entries_.end() ? 0 : it->second.refs;
}

size_t BreakpointTable::size() const { return entries_.size(); }

std::span<const uint8_t> BreakpointTable::original(uint64_t addr) const {
    auto it = entries_.find(addr);
    if (it == entries_.end()) return {};
    return it->second.original;
}

void BreakpointTable::hide(uint64_t addr, std::span<uint8_t> buf) const {
    if (buf.empty() || entries_.empty()) return;

    // A trap starting up to trap_.size()-1 bytes before `addr` still reaches
    // into the buffer, so the scan must start that far back (without wrapping
    // below zero).
    const uint64_t reach = trap_.empty() ? 0 : trap_.size() - 1;
    const uint64_t scan_from = addr >= reach ? addr - reach : 0;
    // Offsets relative to `addr` avoid overflow near the top of the address space.
    const uint64_t len = buf.size();

    for (auto it = entries_.lower_bound(scan_from); it != entries_.end(); ++it) {
        const uint64_t bp = it->first;
        const auto& orig = it->second.original;
        if (bp >= addr && bp - addr >= len) break;

        // Copy the intersection of [bp, bp+orig.size()) and [addr, addr+len).
        uint64_t src_skip = 0; // bytes of the trap lying before the buffer
        uint64_t dst_off = 0;
        if (bp < addr) {
            src_skip = addr - bp;
            if (src_skip >= orig.size()) continue;
        } else {
            dst_off = bp - addr;
        }
        const uint64_t n = std::min<uint64_t>(orig.size() - src_skip, len - dst_off);
        std::copy_n(orig.begin() + static_cast<std::ptrdiff_t>(src_skip), n,
                    buf.begin() + static_cast<std::ptrdiff_t>(dst_off));
    }
}

} // namespace probed
