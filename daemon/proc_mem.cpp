#include "daemon/proc_mem.h"

#include "common/remote_ptr.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>

namespace probed {

Result<ProcMem> ProcMem::open(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/mem";
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Error::from_errno("open " + path);
    return ProcMem(pid, UniqueFd(fd));
}

Result<void> ProcMem::read(uint64_t addr, std::span<uint8_t> out) {
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                            static_cast<off_t>(addr + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("read tracee memory at " + hex_address(addr + done));
        }
        // A short read of 0 means the address is not mapped (or the process is gone).
        if (n == 0)
            return make_error(ErrorKind::Io, "tracee memory at " + hex_address(addr + done) +
                                                 " is not readable");
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<void> ProcMem::write(uint64_t addr, std::span<const uint8_t> data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                             static_cast<off_t>(addr + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("write tracee memory at " + hex_address(addr + done));
        }
        if (n == 0)
            return make_error(ErrorKind::Io, "tracee memory at " + hex_address(addr + done) +
                                                 " is not writable");
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<bool> ProcMem::write_as_program(uint64_t addr, std::span<const uint8_t> data) {
    iovec local{const_cast<uint8_t*>(data.data()), data.size()};
    iovec remote{reinterpret_cast<void*>(addr), data.size()};
    while (true) {
        ssize_t n = ::process_vm_writev(pid_, &local, 1, &remote, 1, 0);
        if (n == static_cast<ssize_t>(data.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        // A partial write stops at the first refused page; the stores this
        // is used for are 8 or 16 bytes on one 16-byte aligned stack slot
        // pair, within one page, so that does not happen.
        if ((n < 0 && errno == EFAULT) || n >= 0) return false;
        return Error::from_errno("write tracee memory at " + hex_address(addr));
    }
}

Result<uint64_t> ProcMem::read_word(uint64_t addr) {
    uint64_t value = 0;
    auto r = read(addr, {reinterpret_cast<uint8_t*>(&value), sizeof value});
    if (!r) return std::move(r).error();
    return value;
}

Result<void> ProcMem::write_word(uint64_t addr, uint64_t value) {
    return write(addr, {reinterpret_cast<const uint8_t*>(&value), sizeof value});
}

Result<uint64_t> read_entry_point(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/auxv";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Error::from_errno("open " + path);
    Elf64_auxv_t entries[64];
    ssize_t n;
    while (true) {
        n = ::read(fd.get(), entries, sizeof entries);
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    if (n < 0) return Error::from_errno("read " + path);
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(Elf64_auxv_t); ++i) {
        if (entries[i].a_type == AT_ENTRY) return static_cast<uint64_t>(entries[i].a_un.a_val);
        if (entries[i].a_type == AT_NULL) break;
    }
    return make_error(ErrorKind::NotFound, "no AT_ENTRY in " + path);
}

} // namespace probed
