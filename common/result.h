#pragma once
// Recoverable errors travel in the return value (shaped like std::expected,
// which C++20 lacks). Exceptions are only for fatal start-up errors.
#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace probed {

enum class ErrorKind {
    Internal,
    InvalidArgument,   // the request itself is wrong
    NotFound,          // pid, probe, symbol
    Ambiguous,         // a symbol matched more than once
    Unsupported,       // e.g. an instruction we refuse to probe
    Permission,        // EPERM from ptrace
    ProcessGone,       // ESRCH: the tracee died under us, a normal outcome
    Io,
};

const char* error_kind_name(ErrorKind kind);

struct Error {
    ErrorKind kind = ErrorKind::Internal;
    std::string message;
    int sys_errno = 0; // 0 when no system call failed

    static Error from_errno(std::string what, int err = errno);
};

template <typename T> class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <> class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

private:
    Error error_;
    bool ok_ = true;
};

inline Error make_error(ErrorKind kind, std::string message) {
    return Error{kind, std::move(message), 0};
}

} // namespace probed

// Propagate an error from an expression returning Result<...>.
#define PROBED_TRY(expr)                                                                           \
    do {                                                                                           \
        auto probed_try_result_ = (expr);                                                          \
        if (!probed_try_result_.ok()) return std::move(probed_try_result_).error();                \
    } while (0)
