#pragma once
// Writes events as they arrive: a line for people, or with --json the
// event's params as one compact JSON line. Flushed per line so a pipe
// reader (grep, a script) sees each call as it happens.
#include "client/process_names.h"

#include <nlohmann/json.hpp>

namespace probed::client {

class EventPrinter {
  public:
    EventPrinter(bool json, int max_args) : json_(json), max_args_(max_args) {}

    // False when stdout is gone (the reader of a pipe exited): time to stop.
    bool print(const nlohmann::json& event);

    ProcessNames& names() { return names_; }

  private:
    bool json_;
    int max_args_;
    ProcessNames names_;
};

} // namespace probed::client
