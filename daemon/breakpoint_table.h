#pragma once
// Address -> {original bytes, reference count} for one address space, shared by
// all threads of a process. The trap is written on the first reference and the
// original bytes restored when the last one goes.
#include "common/result.h"
#include "daemon/memory_access.h"

#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace probed {

class BreakpointTable {
public:
    // `trap` is the architecture's breakpoint encoding (x86_64: {0xcc}).
    explicit BreakpointTable(std::vector<uint8_t> trap);

    // Adds a reference; on the first one reads and keeps the original bytes,
    // then writes the trap. Fails cleanly (table unchanged) if either fails.
    Result<void> insert(MemoryAccess& mem, uint64_t addr);
    // Drops a reference; on the last one writes the original bytes back.
    // NotFound if there is no breakpoint at addr.
    Result<void> remove(MemoryAccess& mem, uint64_t addr);
    // Restores every breakpoint (detach). Continues past failures and reports the first.
    Result<void> remove_all(MemoryAccess& mem);
    // Forgets everything without touching memory (after exec or process exit).
    void clear();
    // Forgets the breakpoint at addr, every reference, without touching
    // memory: the code there was unmapped (dlclose), and whatever is mapped
    // there next must not get our saved bytes.
    void forget(uint64_t addr) { entries_.erase(addr); }

    bool contains(uint64_t addr) const;
    int refcount(uint64_t addr) const; // 0 if none
    size_t size() const;
    // Original bytes at addr, or empty if no breakpoint there.
    std::span<const uint8_t> original(uint64_t addr) const;

    // `buf` holds tracee memory read from `addr`: put back the original bytes
    // of every breakpoint that overlaps it, so users never see our traps.
    void hide(uint64_t addr, std::span<uint8_t> buf) const;

private:
    struct Entry {
        std::vector<uint8_t> original;
        int refs = 0;
    };
    std::vector<uint8_t> trap_;
    std::map<uint64_t, Entry> entries_;
};

} // namespace probed
