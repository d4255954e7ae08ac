#include "common/result.h"

#include <cstring>

namespace probed {

const char* error_kind_name(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::Internal: return "internal";
    case ErrorKind::InvalidArgument: return "invalid_argument";
    case ErrorKind::NotFound: return "not_found";
    case ErrorKind::Ambiguous: return "ambiguous";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Permission: return "permission";
    case ErrorKind::ProcessGone: return "process_gone";
    case ErrorKind::Io: return "io";
    }
    return "unknown";
}

Error Error::from_errno(std::string what, int err) {
    ErrorKind kind = ErrorKind::Io;
    if (err == ESRCH) kind = ErrorKind::ProcessGone;
    else if (err == EPERM || err == EACCES) kind = ErrorKind::Permission;
    else if (err == ENOENT) kind = ErrorKind::NotFound;
    else if (err == EINVAL) kind = ErrorKind::InvalidArgument;
    return Error{kind, what + ": " + std::strerror(err), err};
}

} // namespace probed
