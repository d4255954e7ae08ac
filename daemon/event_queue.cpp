#include "daemon/event_queue.h"

#include <unistd.h>

#include <cstdint>
#include <utility>

namespace probed {

EventQueue::EventQueue(size_t capacity) : capacity_(capacity) {}

bool EventQueue::push(CallEvent event) {
    bool wake_consumer = false;
    {
        std::lock_guard lock(mu_);
        // A process-exit event is never dropped: a client waiting for its
        // target to end would wait forever. There is one per process.
        if (q_.size() >= capacity_ && event.type != EventType::Exit &&
            event.type != EventType::ProbeLost) {
            // Dropping the newest keeps already-queued events (and their
            // entry/return pairing) intact; the count lets consumers report
            // the loss per probe.
            ++dropped_[event.probe_id];
            ++dropped_total_;
            return false;
        }
        wake_consumer = std::exchange(consumer_asleep_, false);
        q_.push_back(std::move(event));
    }
    // Notify outside the lock so the woken consumer does not block on it.
    cv_.notify_one();
    if (wake_consumer && notify_fd_ >= 0) {
        uint64_t one = 1;
        (void)!::write(notify_fd_, &one, sizeof one);
    }
    return true;
}

bool EventQueue::arm_notify() {
    std::lock_guard lock(mu_);
    if (!q_.empty()) return false;
    consumer_asleep_ = true;
    return true;
}

std::optional<CallEvent> EventQueue::try_pop() {
    std::lock_guard lock(mu_);
    if (q_.empty()) return std::nullopt;
    CallEvent event = std::move(q_.front());
    q_.pop_front();
    return event;
}

std::optional<CallEvent> EventQueue::pop_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return !q_.empty(); })) return std::nullopt;
    CallEvent event = std::move(q_.front());
    q_.pop_front();
    return event;
}

size_t EventQueue::drain(std::vector<CallEvent>& out, size_t max) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    while (n < max && !q_.empty()) {
        out.push_back(std::move(q_.front()));
        q_.pop_front();
        ++n;
    }
    return n;
}

size_t EventQueue::size() const {
    std::lock_guard lock(mu_);
    return q_.size();
}

uint64_t EventQueue::dropped(uint64_t probe_id) const {
    std::lock_guard lock(mu_);
    auto it = dropped_.find(probe_id);
    return it == dropped_.end() ? 0 : it->second;
}

uint64_t EventQueue::dropped_total() const {
    std::lock_guard lock(mu_);
    return dropped_total_;
}

std::map<uint64_t, uint64_t> EventQueue::dropped_by_probe() const {
    std::lock_guard lock(mu_);
    return dropped_;
}

} // namespace probed
