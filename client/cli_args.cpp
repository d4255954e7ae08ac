#include "client/cli_args.h"

#include <charconv>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace probed::client {

const char* command_name(Command command) {
    switch (command) {
    case Command::None:
        return "";
    case Command::Help:
        return "help";
    case Command::Attach:
        return "attach";
    case Command::Run:
        return "run";
    case Command::List:
        return "list";
    case Command::Detach:
        return "detach";
    case Command::Status:
        return "status";
    case Command::Stack:
        return "stack";
    case Command::Stats:
        return "stats";
    case Command::Call:
        return "call";
    }
    return "";
}

const char* probe_kind_name(ProbeKind kind) {
    switch (kind) {
    case ProbeKind::Return:
        return "return";
    case ProbeKind::Entry:
        return "entry";
    case ProbeKind::Call:
        return "call";
    }
    return "return";
}

namespace {

Error usage_error(std::string message) {
    return make_error(ErrorKind::InvalidArgument, std::move(message));
}

std::optional<Command> command_from_name(std::string_view name) {
    for (Command c : {Command::Help, Command::Attach, Command::Run, Command::List, Command::Detach,
                      Command::Status, Command::Stack, Command::Stats, Command::Call})
        if (name == command_name(c))
            return c;
    return std::nullopt;
}

// from_chars rather than strtol: it rejects signs, spaces and trailing junk
// by construction, and a bad number must be a usage error, not a zero.
template <typename T> std::optional<T> parse_integer(std::string_view text) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

Result<pid_t> parse_pid(std::string_view text, const char* what) {
    auto v = parse_integer<long long>(text);
    if (!v || *v <= 0 || *v > INT_MAX)
        return usage_error(std::string("bad ") + what + " '" + std::string(text) +
                           "': expected a positive integer");
    return static_cast<pid_t>(*v);
}

Result<double> parse_seconds(const std::string& text) {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v <= 0)
        return usage_error("bad duration '" + text + "': expected seconds > 0, e.g. 2.5");
    return v;
}

bool is_trace_command(Command c) {
    return c == Command::Attach || c == Command::Run;
}

class Parser {
  public:
    Parser(const std::vector<std::string>& args, CliArgs& out) : args_(args), out_(out) {}

    Result<void> parse() {
        while (i_ < args_.size())
            PROBED_TRY(step());
        if (out_.help)
            return {};
        for (const std::string& opt : trace_options_seen_)
            if (!is_trace_command(out_.command))
                return usage_error(opt + " is only valid with attach and run");
        if (!functions_from_p_.empty() && out_.command != Command::Run)
            return usage_error("-p is only valid with run");
        return check_positionals();
    }

  private:
    Result<void> step() {
        const std::string& arg = args_[i_++];
        if (options_ended_ || arg.size() < 2 || arg[0] != '-')
            return positional(arg);
        if (arg == "--") {
            options_ended_ = true;
            return {};
        }
        return option(arg);
    }

    Result<void> positional(const std::string& arg) {
        if (out_.command == Command::None) {
            auto c = command_from_name(arg);
            if (!c)
                return usage_error("unknown command '" + arg + "'");
            out_.command = *c;
            return {};
        }
        positionals_.push_back(arg);
        // Everything after run's CMD belongs to CMD, even "-l" or "--help".
        if (out_.command == Command::Run)
            options_ended_ = true;
        return {};
    }

    // The value of "--name=value" or of "--name value".
    Result<std::string> value_of(const std::string& name,
                                 const std::optional<std::string>& inline_value) {
        if (inline_value)
            return *inline_value;
        if (i_ >= args_.size())
            return usage_error(name + " needs a value");
        return args_[i_++];
    }

    Result<void> option(const std::string& arg) {
        std::string name = arg;
        std::optional<std::string> inline_value;
        if (arg.rfind("--", 0) == 0) {
            if (auto eq = arg.find('='); eq != std::string::npos) {
                name = arg.substr(0, eq);
                inline_value = arg.substr(eq + 1);
            }
        } else if (arg.rfind("-p", 0) == 0 && arg.size() > 2) {
            name = "-p";
            inline_value = arg.substr(2);
        }

        auto flag = [&](bool& field) -> Result<void> {
            if (inline_value)
                return usage_error(name + " takes no value");
            field = true;
            return {};
        };
        if (name == "--help" || name == "-h")
            return flag(out_.help);
        if (name == "--json")
            return flag(out_.json);
        if (name == "--no-autostart")
            return flag(out_.no_autostart);
        if (name == "--socket") {
            auto v = value_of(name, inline_value);
            if (!v)
                return std::move(v).error();
            if (v->empty())
                return usage_error("--socket needs a path");
            out_.socket = *v;
            return {};
        }
        if (name == "-p" || name == "--probe") {
            auto v = value_of(name, inline_value);
            if (!v)
                return std::move(v).error();
            if (v->empty())
                return usage_error(name + " needs a function");
            functions_from_p_.push_back(*v);
            return {};
        }
        if (name == "--float") {
            trace_options_seen_.push_back(name);
            return flag(out_.trace.float_retval);
        }
        if (name == "--count" || name == "--duration" || name == "--args" || name == "--kind") {
            trace_options_seen_.push_back(name);
            auto v = value_of(name, inline_value);
            if (!v)
                return std::move(v).error();
            return trace_value(name, *v);
        }
        return usage_error("unknown option " + name);
    }

    Result<void> trace_value(const std::string& name, const std::string& value) {
        TraceOptions& t = out_.trace;
        if (name == "--count") {
            auto n = parse_integer<std::uint64_t>(value);
            if (!n || *n == 0)
                return usage_error("bad count '" + value + "': expected an integer >= 1");
            t.count = *n;
        } else if (name == "--duration") {
            auto s = parse_seconds(value);
            if (!s)
                return std::move(s).error();
            t.duration_s = *s;
        } else if (name == "--args") {
            auto n = parse_integer<int>(value);
            if (!n || *n < 0 || *n > 6)
                return usage_error("bad --args '" + value + "': expected 0..6");
            t.args = *n;
        } else if (value == "return" || value == "entry" || value == "call") {
            t.kind = value == "return"  ? ProbeKind::Return
                     : value == "entry" ? ProbeKind::Entry
                                        : ProbeKind::Call;
        } else {
            return usage_error("bad --kind '" + value + "': expected return, entry or call");
        }
        return {};
    }

    Result<void> expect_count(std::size_t min, std::size_t max) {
        const char* name = command_name(out_.command);
        if (positionals_.size() < min)
            return usage_error(std::string(name) + ": missing argument");
        if (positionals_.size() > max)
            return usage_error(std::string(name) + ": unexpected argument '" + positionals_[max] +
                               "'");
        return {};
    }

    Result<void> check_positionals() {
        switch (out_.command) {
        case Command::None:
            return usage_error("no command given");
        case Command::Help:
            PROBED_TRY(expect_count(0, 1));
            if (!positionals_.empty()) {
                auto topic = command_from_name(positionals_[0]);
                if (!topic)
                    return usage_error("unknown command '" + positionals_[0] + "'");
                out_.help_topic = *topic;
            }
            return {};
        case Command::Attach: {
            PROBED_TRY(expect_count(2, SIZE_MAX));
            auto pid = parse_pid(positionals_[0], "pid");
            if (!pid)
                return std::move(pid).error();
            out_.pid = *pid;
            out_.functions.assign(positionals_.begin() + 1, positionals_.end());
            return {};
        }
        case Command::Run:
            PROBED_TRY(expect_count(1, SIZE_MAX));
            out_.argv = positionals_;
            out_.functions = functions_from_p_;
            return {};
        case Command::List:
        case Command::Status:
            return expect_count(0, 0);
        case Command::Detach:
        case Command::Stack: {
            PROBED_TRY(expect_count(1, out_.command == Command::Stack ? 2 : 1));
            auto pid = parse_pid(positionals_[0], "pid");
            if (!pid)
                return std::move(pid).error();
            out_.pid = *pid;
            if (positionals_.size() == 2) {
                auto tid = parse_pid(positionals_[1], "tid");
                if (!tid)
                    return std::move(tid).error();
                out_.tid = *tid;
            }
            return {};
        }
        case Command::Stats:
            PROBED_TRY(expect_count(0, 1));
            if (!positionals_.empty()) {
                // A probe id, or a collection name (which never starts with a digit
                // or '-': names from probes.d are "<file>.<probe>").
                const std::string& arg = positionals_[0];
                auto id = parse_integer<std::int64_t>(arg);
                if (id && *id >= 0)
                    out_.probe_id = *id;
                else if (!arg.empty() && arg.find_first_of("0123456789-") != 0 &&
                         arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "0123456789._-@") == std::string::npos)
                    out_.collection = arg;
                else
                    return usage_error("bad probe id or collection name '" + arg + "'");
            }
            return {};
        case Command::Call:
            PROBED_TRY(expect_count(1, 2));
            out_.method = positionals_[0];
            if (positionals_.size() == 2) {
                out_.params = nlohmann::json::parse(positionals_[1], nullptr, false);
                if (out_.params.is_discarded())
                    return usage_error("JSON-PARAMS is not valid JSON: " + positionals_[1]);
            }
            return {};
        }
        return {};
    }

    const std::vector<std::string>& args_;
    CliArgs& out_;
    std::size_t i_ = 0;
    bool options_ended_ = false;
    std::vector<std::string> positionals_;
    std::vector<std::string> functions_from_p_;
    std::vector<std::string> trace_options_seen_;
};

} // namespace

Result<void> parse_cli(const std::vector<std::string>& args, CliArgs& out) {
    out = CliArgs{};
    return Parser(args, out).parse();
}

} // namespace probed::client
