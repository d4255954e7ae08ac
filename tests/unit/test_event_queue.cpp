#include <doctest/doctest.h>

#include "daemon/event_queue.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace probed;
using namespace std::chrono_literals;

namespace {

CallEvent make_event(uint64_t probe_id, uint64_t seq) {
    CallEvent e;
    e.type = EventType::Entry;
    e.probe_id = probe_id;
    e.ts_ns = seq;
    // Move-assign a temporary: GCC 12 emits a false -Wrestrict for
    // std::string::operator=(const char*) at -O2.
    e.function = std::string("f");
    return e;
}

constexpr int kProducers = 4;
constexpr int kPerProducer = 10000;

} // namespace

TEST_CASE("events come out in FIFO order") {
    EventQueue q(16);
    CHECK(q.capacity() == 16);
    CHECK_FALSE(q.try_pop().has_value());
    for (uint64_t i = 0; i < 10; ++i) REQUIRE(q.push(make_event(1, i)));
    CHECK(q.size() == 10);

    for (uint64_t i = 0; i < 5; ++i) {
        auto e = q.try_pop();
        REQUIRE(e.has_value());
        CHECK(e->ts_ns == i);
    }
    std::vector<CallEvent> out;
    CHECK(q.drain(out, 3) == 3);
    CHECK(q.drain(out, 100) == 2);
    REQUIRE(out.size() == 5);
    for (uint64_t i = 0; i < 5; ++i) CHECK(out[i].ts_ns == 5 + i);
    CHECK(q.size() == 0);
    CHECK(q.drain(out, 100) == 0);
}

TEST_CASE("a full queue drops new events and counts them per probe") {
    EventQueue q(3);
    CHECK(q.push(make_event(1, 0)));
    CHECK(q.push(make_event(1, 1)));
    CHECK(q.push(make_event(2, 2)));
    CHECK_FALSE(q.push(make_event(1, 3)));
    CHECK_FALSE(q.push(make_event(2, 4)));
    CHECK_FALSE(q.push(make_event(2, 5)));
    CHECK(q.size() == 3);
    CHECK(q.dropped(1) == 1);
    CHECK(q.dropped(2) == 2);
    CHECK(q.dropped(99) == 0);
    CHECK(q.dropped_total() == 3);

    // The oldest events survive; the dropped ones are gone.
    auto first = q.try_pop();
    REQUIRE(first.has_value());
    CHECK(first->ts_ns == 0);

    // Room again: pushes succeed and the counts stay.
    CHECK(q.push(make_event(3, 6)));
    CHECK(q.dropped_total() == 3);
    std::vector<CallEvent> out;
    q.drain(out, 10);
    REQUIRE(out.size() == 3);
    CHECK(out[0].ts_ns == 1);
    CHECK(out[1].ts_ns == 2);
    CHECK(out[2].ts_ns == 6);
}

TEST_CASE("pop_for times out on an empty queue") {
    EventQueue q(4);
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(q.pop_for(30ms).has_value());
    CHECK(std::chrono::steady_clock::now() - start >= 25ms);
}

TEST_CASE("pop_for returns an event pushed while it waits") {
    EventQueue q(4);
    std::thread producer([&] {
        std::this_thread::sleep_for(20ms);
        q.push(make_event(7, 42));
    });
    auto e = q.pop_for(5000ms);
    producer.join();
    REQUIRE(e.has_value());
    CHECK(e->probe_id == 7);
    CHECK(e->ts_ns == 42);
}

TEST_CASE("concurrent producers: every event is received exactly once") {
    EventQueue q(kProducers * kPerProducer);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&q, p] {
            for (int i = 0; i < kPerProducer; ++i) {
                q.push(make_event(static_cast<uint64_t>(p), static_cast<uint64_t>(i)));
            }
        });
    }

    // Per-producer order must be preserved too, so track the next expected seq.
    std::vector<uint64_t> next(kProducers, 0);
    std::vector<int> count(kProducers, 0);
    int received = 0;
    bool in_order = true;
    bool out_of_range = false;
    while (received < kProducers * kPerProducer) {
        auto e = q.pop_for(5000ms);
        if (!e) break; // a hang would otherwise stall the suite
        if (e->probe_id >= static_cast<uint64_t>(kProducers)) {
            out_of_range = true;
            break;
        }
        auto p = static_cast<size_t>(e->probe_id);
        if (e->ts_ns != next[p]) in_order = false;
        next[p] = e->ts_ns + 1;
        ++count[p];
        ++received;
    }
    for (auto& t : producers) t.join();

    CHECK_FALSE(out_of_range);
    CHECK(in_order);
    CHECK(received == kProducers * kPerProducer);
    for (int c : count) CHECK(c == kPerProducer);
    CHECK(q.dropped_total() == 0);
    CHECK_FALSE(q.try_pop().has_value());
}

TEST_CASE("concurrent producers with a small queue: received + dropped == pushed") {
    EventQueue q(16);
    std::atomic<int> producers_left{kProducers};
    std::atomic<uint64_t> accepted{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            for (int i = 0; i < kPerProducer; ++i) {
                if (q.push(make_event(static_cast<uint64_t>(p), static_cast<uint64_t>(i)))) {
                    accepted.fetch_add(1, std::memory_order_relaxed);
                }
            }
            producers_left.fetch_sub(1, std::memory_order_release);
        });
    }

    uint64_t received = 0;
    std::vector<CallEvent> batch;
    for (;;) {
        const bool done = producers_left.load(std::memory_order_acquire) == 0;
        batch.clear();
        received += q.drain(batch, 8);
        if (q.pop_for(1ms)) ++received;
        // Only stop once the producers finished and the queue was seen empty after that.
        if (done && q.size() == 0) break;
    }
    for (auto& t : producers) t.join();

    const uint64_t pushed = kProducers * kPerProducer;
    CHECK(received == accepted.load());
    CHECK(received + q.dropped_total() == pushed);
    uint64_t per_probe = 0;
    for (int p = 0; p < kProducers; ++p) per_probe += q.dropped(static_cast<uint64_t>(p));
    CHECK(per_probe == q.dropped_total());
}
