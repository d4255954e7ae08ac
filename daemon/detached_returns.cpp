#include "daemon/detached_returns.h"

namespace probed {

namespace host = arch::host;

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kEntryBytes = 16;

} // namespace

uint64_t detached_table_in_page(uint64_t trampoline, size_t entries) {
    const uint64_t table = host::detached_table_after_stub(trampoline);
    const uint64_t page_end = (trampoline & ~(kPageSize - 1)) + kPageSize;
    return table + entries * kEntryBytes <= page_end ? table : 0;
}

Result<void> write_detached_returns(MemoryAccess& mem, uint64_t trampoline, uint64_t table_at,
                                    std::span<const arch::DetachedReturn> table) {
    PROBED_TRY(mem.write(table_at, host::detached_return_table(table)));
    return mem.write(trampoline, host::detached_return_stub(table_at, table.size()));
}

} // namespace probed
