#include "daemon/slot_allocator.h"

#include <algorithm>

namespace probed {

namespace {

uint64_t distance(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

} // namespace

SlotAllocator::SlotAllocator(size_t page_size, size_t slot_size)
    : page_size_(page_size), slot_size_(slot_size),
      slots_per_page_(slot_size == 0 ? 0 : page_size / slot_size) {}

void SlotAllocator::add_page(uint64_t base) {
    // Adding the same page twice would hand out each of its slots twice.
    if (std::find(pages_.begin(), pages_.end(), base) != pages_.end()) return;
    pages_.push_back(base);
    used_.emplace_back(slots_per_page_, false);
}

bool SlotAllocator::remove_page(uint64_t base) {
    auto it = std::find(pages_.begin(), pages_.end(), base);
    if (it == pages_.end()) return false;
    const auto index = static_cast<size_t>(it - pages_.begin());

    // Pending slots stay marked used until freed, so this also covers them.
    const auto& bits = used_[index];
    if (std::find(bits.begin(), bits.end(), true) != bits.end()) return false;

    pages_.erase(it);
    used_.erase(used_.begin() + static_cast<std::ptrdiff_t>(index));
    return true;
}

bool SlotAllocator::reserve(uint64_t slot_addr) {
    auto loc = locate(slot_addr);
    if (!loc) return false;
    auto& bits = used_[loc->first];
    if (bits[loc->second]) return false;
    bits[loc->second] = true;
    return true;
}

std::optional<uint64_t> SlotAllocator::allocate(uint64_t near, uint64_t max_distance) {
    if (slots_per_page_ == 0) return std::nullopt;
    for (size_t p = 0; p < pages_.size(); ++p) {
        const uint64_t first = pages_[p];
        const uint64_t last = first + (page_size_ - 1);
        // The distance to a contiguous range is largest at one of its ends, so
        // checking both ends covers every byte in between.
        if (distance(first, near) > max_distance || distance(last, near) > max_distance) {
            continue;
        }
        auto& bits = used_[p];
        auto free_it = std::find(bits.begin(), bits.end(), false);
        if (free_it == bits.end()) continue;
        *free_it = true;
        return first + static_cast<uint64_t>(free_it - bits.begin()) * slot_size_;
    }
    return std::nullopt;
}

std::optional<uint64_t> SlotAllocator::allocate_run(size_t count, uint64_t near,
                                                    uint64_t max_distance) {
    if (count == 0 || count > slots_per_page_) return std::nullopt;
    for (size_t p = 0; p < pages_.size(); ++p) {
        const uint64_t first = pages_[p];
        if (distance(first, near) > max_distance ||
            distance(first + (page_size_ - 1), near) > max_distance)
            continue;
        auto& bits = used_[p];
        size_t run = 0;
        for (size_t i = 0; i < bits.size(); ++i) {
            run = bits[i] ? 0 : run + 1;
            if (run < count) continue;
            const size_t start = i + 1 - count;
            for (size_t k = start; k <= i; ++k) bits[k] = true;
            return first + static_cast<uint64_t>(start) * slot_size_;
        }
    }
    return std::nullopt;
}

void SlotAllocator::release(uint64_t slot_addr, const std::vector<pid_t>& live_threads) {
    auto loc = locate(slot_addr);
    // Releasing a free or already-pending slot is ignored, so a double release
    // cannot free a slot early or put it on the pending list twice.
    if (!loc || !used_[loc->first][loc->second]) return;
    for (const auto& pending : pending_) {
        if (pending.slot == slot_addr) return;
    }

    if (live_threads.empty()) {
        make_free(slot_addr);
        return;
    }
    pending_.push_back(Pending{slot_addr, std::set<pid_t>(live_threads.begin(), live_threads.end())});
}

void SlotAllocator::observe(pid_t tid, uint64_t pc) {
    for (auto it = pending_.begin(); it != pending_.end();) {
        const bool inside = pc >= it->slot && pc - it->slot < slot_size_;
        if (!inside) it->waiting_for.erase(tid);
        if (it->waiting_for.empty()) {
            make_free(it->slot);
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
}

void SlotAllocator::thread_exited(pid_t tid) {
    for (auto it = pending_.begin(); it != pending_.end();) {
        it->waiting_for.erase(tid);
        if (it->waiting_for.empty()) {
            make_free(it->slot);
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
}

bool SlotAllocator::is_free(uint64_t slot_addr) const {
    auto loc = locate(slot_addr);
    return loc && !used_[loc->first][loc->second];
}

size_t SlotAllocator::free_count() const {
    size_t n = 0;
    for (const auto& bits : used_) {
        n += static_cast<size_t>(std::count(bits.begin(), bits.end(), false));
    }
    return n;
}

size_t SlotAllocator::pending_count() const { return pending_.size(); }

bool SlotAllocator::owns(uint64_t addr) const {
    return std::any_of(pages_.begin(), pages_.end(),
                       [&](uint64_t base) { return addr >= base && addr - base < page_size_; });
}

std::optional<std::pair<size_t, size_t>> SlotAllocator::locate(uint64_t slot_addr) const {
    if (slots_per_page_ == 0) return std::nullopt;
    for (size_t p = 0; p < pages_.size(); ++p) {
        const uint64_t base = pages_[p];
        if (slot_addr < base) continue;
        const uint64_t offset = slot_addr - base;
        // Only slot starts name a slot; the tail of a page that does not fit a
        // whole slot is not one either.
        if (offset % slot_size_ != 0) continue;
        const uint64_t index = offset / slot_size_;
        if (index >= slots_per_page_) continue;
        return std::pair{p, static_cast<size_t>(index)};
    }
    return std::nullopt;
}

void SlotAllocator::make_free(uint64_t slot_addr) {
    if (auto loc = locate(slot_addr)) used_[loc->first][loc->second] = false;
}

} // namespace probed
