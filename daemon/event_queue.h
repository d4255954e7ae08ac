#pragma once
// Bounded multi-producer/multi-consumer queue of CallEvents. When full, a new
// event is dropped and counted against its probe, never silently.
#include "daemon/call_event.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

namespace probed {

class EventQueue {
public:
    explicit EventQueue(size_t capacity);

    // False (and the probe's drop count goes up) when the queue is full.
    bool push(CallEvent event);
    std::optional<CallEvent> try_pop();
    // Waits up to `timeout` for an event.
    std::optional<CallEvent> pop_for(std::chrono::milliseconds timeout);
    // Moves up to `max` events into `out`; returns how many.
    size_t drain(std::vector<CallEvent>& out, size_t max);

    size_t size() const;
    // An eventfd written (+1) when an event arrives while the consumer is
    // asleep, so a poll()-based consumer wakes without polling the queue.
    // The write happens on the producer's (tracer's) thread, so it is made
    // only when needed: the consumer calls arm_notify() just before it
    // sleeps, and that returns false (do not sleep) if events are waiting.
    void set_notify_fd(int fd) { notify_fd_ = fd; }
    bool arm_notify();
    size_t capacity() const { return capacity_; }
    uint64_t dropped(uint64_t probe_id) const;
    uint64_t dropped_total() const;
    std::map<uint64_t, uint64_t> dropped_by_probe() const;

private:
    size_t capacity_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<CallEvent> q_;
    std::map<uint64_t, uint64_t> dropped_;
    uint64_t dropped_total_ = 0;
    int notify_fd_ = -1;
    bool consumer_asleep_ = false; // guarded by mu_
};

} // namespace probed
