#include "client/output_relay.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace probed::client {

namespace {

std::string proc_fd_path(int fd) {
    return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd);
}

bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

} // namespace

Result<std::optional<std::string>> OutputRelay::path_for(int our_fd) {
    struct stat st;
    if (::fstat(our_fd, &st) != 0)
        return std::optional<std::string>();
    // A terminal, /dev/null or a pipe: opening it again by path is sharing it.
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
        return std::optional(proc_fd_path(our_fd));

    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
        return Error::from_errno("pipe");
    Channel c{UniqueFd(p[0]), UniqueFd(p[1]), our_fd};
    ::fcntl(c.read_end.get(), F_SETFL, O_NONBLOCK);
    std::string path = proc_fd_path(c.write_end.get());
    channels_.push_back(std::move(c));
    return std::optional(path);
}

void OutputRelay::close_write_ends() {
    for (Channel& c : channels_)
        c.write_end.reset();
}

void OutputRelay::add_pollfds(std::vector<pollfd>& fds) const {
    for (const Channel& c : channels_)
        if (c.read_end.valid())
            fds.push_back({c.read_end.get(), POLLIN, 0});
}

bool OutputRelay::copy_once(Channel& c) {
    char buf[65536];
    ssize_t n = ::read(c.read_end.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    // EOF, or our side cannot take it: either way nothing more will come.
    if (n <= 0 || !write_all(c.our_fd, buf, static_cast<std::size_t>(n))) {
        c.read_end.reset();
        return false;
    }
    return true;
}

void OutputRelay::pump(int fd) {
    for (Channel& c : channels_)
        if (c.read_end.valid() && c.read_end.get() == fd)
            copy_once(c);
}

void OutputRelay::drain(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        std::vector<pollfd> fds;
        add_pollfds(fds);
        if (fds.empty())
            return;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return;
        if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0)
            return;
        for (const pollfd& p : fds)
            if (p.revents)
                pump(p.fd);
    }
}

} // namespace probed::client
