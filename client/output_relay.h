#pragma once
// How a program started by `run` gets our stdout and stderr. The daemon
// opens the paths we give it (/proc/<our pid>/fd/N) with O_TRUNC and a fresh
// file offset: right for a terminal or a pipe, but for a regular file it
// would truncate what we already wrote and then overwrite it, and a socket
// cannot be opened by path at all. For those, the program writes into a
// pipe of ours and we copy it across.
#include "common/result.h"
#include "common/unique_fd.h"

#include <poll.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace probed::client {

class OutputRelay {
  public:
    // The path to pass as the program's stdout (our_fd 1) or stderr (2),
    // or nullopt when our fd is closed (the daemon's default applies).
    Result<std::optional<std::string>> path_for(int our_fd);

    // Once the daemon has opened the paths (process.spawn answered), our
    // copies of the write ends must go, or we would never see EOF.
    void close_write_ends();

    // The read ends still open, for poll().
    void add_pollfds(std::vector<pollfd>& fds) const;
    // Copies what is readable on `fd` (one of ours; others are ignored).
    void pump(int fd);
    // After the program's end: copy the rest until EOF (or give up after
    // `limit`, for a pipe a grandchild still holds).
    void drain(std::chrono::milliseconds limit);

  private:
    struct Channel {
        UniqueFd read_end;
        UniqueFd write_end;
        int our_fd;
    };
    bool copy_once(Channel& c);

    std::vector<Channel> channels_;
};

} // namespace probed::client
