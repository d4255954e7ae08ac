#pragma once
// kprobe-style allocator of fixed-size out-of-line slots in pages we injected
// into one tracee. Pure bookkeeping: the engine maps pages and writes code.
//
// A freed slot is reused only after every thread that existed when it was
// freed has been seen stopped outside it (or has exited): a thread may have
// been preempted inside the slot's code.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include <sys/types.h>

namespace probed {

class SlotAllocator {
public:
    SlotAllocator(size_t page_size, size_t slot_size);

    // A new page at `base` (page aligned). Its slots become free.
    void add_page(uint64_t base);
    // Removes a page; all its slots must be free (no pending ones). Returns false otherwise.
    bool remove_page(uint64_t base);
    const std::vector<uint64_t>& pages() const { return pages_; }

    // Marks a specific slot used (e.g. the trampoline in the first page).
    bool reserve(uint64_t slot_addr);

    // A free slot in a page whose base lies within `max_distance` bytes of
    // `near` (both directions, measured to every byte of the page), or nullopt:
    // then the engine maps a new page nearby and calls add_page.
    std::optional<uint64_t> allocate(uint64_t near, uint64_t max_distance);
    // `count` adjacent free slots in one such page (their first), for code
    // longer than a slot; each is released on its own.
    std::optional<uint64_t> allocate_run(size_t count, uint64_t near, uint64_t max_distance);

    // Returns a slot; it stays unusable until each of `live_threads` has been
    // observed outside it (observe) or has exited (thread_exited).
    void release(uint64_t slot_addr, const std::vector<pid_t>& live_threads);
    // A thread `tid` was seen stopped at `pc`.
    void observe(pid_t tid, uint64_t pc);
    void thread_exited(pid_t tid);

    bool is_free(uint64_t slot_addr) const;
    size_t free_count() const;
    size_t pending_count() const;
    bool has_pending() const { return !pending_.empty(); }
    // True if addr falls inside any page we own.
    bool owns(uint64_t addr) const;

private:
    struct Pending {
        uint64_t slot;
        std::set<pid_t> waiting_for;
    };
    size_t page_size_;
    size_t slot_size_;
    size_t slots_per_page_;
    std::vector<uint64_t> pages_;
    std::vector<std::vector<bool>> used_; // per page, per slot
    std::vector<Pending> pending_;

    std::optional<std::pair<size_t, size_t>> locate(uint64_t slot_addr) const;
    void make_free(uint64_t slot_addr);
};

} // namespace probed
