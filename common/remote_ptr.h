#pragma once
// A tracee address. Kept distinct from local pointers and plain integers so
// the two address spaces are never mixed up by accident.
#include <compare>
#include <cstdint>
#include <string>

namespace probed {

class RemotePtr {
public:
    constexpr RemotePtr() = default;
    constexpr explicit RemotePtr(uint64_t addr) : addr_(addr) {}

    constexpr uint64_t value() const { return addr_; }
    constexpr bool null() const { return addr_ == 0; }
    constexpr RemotePtr operator+(int64_t delta) const { return RemotePtr(addr_ + delta); }
    constexpr RemotePtr operator-(int64_t delta) const { return RemotePtr(addr_ - delta); }
    constexpr int64_t operator-(RemotePtr other) const {
        return static_cast<int64_t>(addr_ - other.addr_);
    }
    constexpr auto operator<=>(const RemotePtr&) const = default;

    std::string hex() const;

private:
    uint64_t addr_ = 0;
};

std::string hex_address(uint64_t addr);

} // namespace probed
