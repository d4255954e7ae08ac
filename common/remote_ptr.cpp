#include "common/remote_ptr.h"

#include <cstdio>

namespace probed {

std::string hex_address(uint64_t addr) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
    return buf;
}

std::string RemotePtr::hex() const { return hex_address(addr_); }

} // namespace probed
