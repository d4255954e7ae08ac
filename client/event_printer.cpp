#include "client/event_printer.h"

#include "client/event_format.h"
#include "client/json_fields.h"

#include <cstdio>

namespace probed::client {

namespace {

bool write_line(std::FILE* out, const std::string& line) {
    std::fputs(line.c_str(), out);
    std::fputc('\n', out);
    return std::fflush(out) == 0 && !std::ferror(out);
}

} // namespace

bool EventPrinter::print(const nlohmann::json& event) {
    if (json_)
        return write_line(stdout, dump_json(event));

    std::string type = string_field(event, "type");
    auto pid = static_cast<pid_t>(int_field(event, "pid").value_or(0));
    if (type == "entry" || type == "return")
        return write_line(stdout, format_call_event(event, names_.name_of(pid), max_args_));
    if (type == "exit")
        return write_line(stdout, format_exit(event, names_.name_of(pid)));
    if (type == "dropped") {
        // A diagnostic, not data: stderr, so it never corrupts a pipeline.
        write_line(stderr, "probectl: " + format_dropped(event));
        return true;
    }
    if (type == "probe_lost") {
        write_line(stderr, "probectl: " + format_probe_lost(event));
        return true;
    }
    // A type this client does not know yet: show it rather than hide it.
    return write_line(stdout, dump_json(event));
}

} // namespace probed::client
