#pragma once
// Turns event notifications (protocol.md, "Event notifications") into the
// lines people read. Pure: no I/O, so every shape is unit-tested.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace probed::client {

// "840 ns", "1.840 µs", "2.100 ms", "1.500 s".
std::string format_duration(std::uint64_t ns);

// A return register: small values (|v| < 1e6 read as signed) in decimal,
// so -1 reads as -1; anything else, pointers mostly, in hex.
std::string format_retval(std::uint64_t word);

// The shortest text that reads back as the same double, always with a
// decimal point or exponent so it does not pass for an integer.
std::string format_float(double value);

// "work(0x7, 0x1)": the function and the first `max_args` captured arguments.
std::string format_call(const nlohmann::json& event, int max_args);

// One line for an `entry` or `return` event:
//   12345 myprog[12346] work(0x7, 0x1) = 22  <1.840 µs>
//   12345 myprog[12346] work(0x7) → longjmp  <2.100 ms>
//   12345 myprog[12346] → work(0x7, 0x1)
std::string format_call_event(const nlohmann::json& event, std::string_view comm, int max_args);

// "17 events of probe 3 dropped (not read fast enough)"
std::string format_dropped(const nlohmann::json& event);

// "probe 3 (work) lost: exec: pid 12345 now runs /usr/bin/true"
std::string format_probe_lost(const nlohmann::json& event);

// "12345 myprog exited with code 0", "12345 myprog killed by signal 9 (SIGKILL)"
std::string format_exit(const nlohmann::json& event, std::string_view comm);

} // namespace probed::client
