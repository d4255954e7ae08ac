#include "daemon/stack_unwinder.h"

#include "arch/host.h"
#include "daemon/debuginfo_path.h"
#include "daemon/symbol_match.h"

#include <dwarf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

namespace probed {

namespace host = arch::host;

namespace {

constexpr uint64_t kPageSize = 4096;

Error dwfl_failure(const std::string& what) {
    return make_error(ErrorKind::Internal, what + ": " + dwfl_errmsg(-1));
}

// The lines of /proc/PID/maps that can be modules (a file or the vDSO): the
// heap and stack lines change all the time and make no module.
std::string module_lines(const std::string& maps) {
    std::string out;
    size_t pos = 0;
    while (pos < maps.size()) {
        size_t eol = maps.find('\n', pos);
        if (eol == std::string::npos) eol = maps.size();
        std::string_view line(maps.data() + pos, eol - pos);
        if (line.find(" /") != std::string_view::npos || line.find("[vdso]") != std::string_view::npos) {
            out += line;
            out += '\n';
        }
        pos = eol + 1;
    }
    return out;
}

} // namespace

StackUnwinder::StackUnwinder(pid_t pid) : pid_(pid) {}

StackUnwinder::~StackUnwinder() = default;

Result<std::unique_ptr<StackUnwinder>> StackUnwinder::create(pid_t pid) {
    std::unique_ptr<StackUnwinder> u(new StackUnwinder(pid));
    // libdwfl's debuginfo path: "-" skips the CRC check of .gnu_debuglink
    // files, ".debug" is looked for next to the file, and every absolute
    // directory is searched for .build-id/xx/rest.debug -- the same places
    // (and order) elf_symbols.cpp uses for symbols.
    u->debuginfo_path_ = "-:.debug";
    for (const std::string& root : debuginfo_roots()) u->debuginfo_path_ += ":" + root;
    u->debuginfo_path_ptr_ = u->debuginfo_path_.data();
    u->callbacks_.find_elf = dwfl_linux_proc_find_elf;
    u->callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
    u->callbacks_.debuginfo_path = &u->debuginfo_path_ptr_;
    u->dwfl_.reset(dwfl_begin(&u->callbacks_));
    if (!u->dwfl_) return dwfl_failure("dwfl_begin");
    PROBED_TRY(u->report_modules());

    u->thread_callbacks_.next_thread = cb_next_thread;
    u->thread_callbacks_.get_thread = cb_get_thread;
    u->thread_callbacks_.memory_read = cb_memory_read;
    u->thread_callbacks_.set_initial_registers = cb_set_initial_registers;
    // With no ELF given, libdwfl picks the architecture from the first
    // module it can open (the modules were reported just above).
    if (!dwfl_attach_state(u->dwfl_.get(), nullptr, pid, &u->thread_callbacks_, u.get()))
        return dwfl_failure("dwfl_attach_state for pid " + std::to_string(pid));
    return u;
}

Result<void> StackUnwinder::report_modules() {
    std::string path = "/proc/" + std::to_string(pid_) + "/maps";
    std::ifstream in(path);
    if (!in) return Error::from_errno("reading " + path);
    std::string maps = module_lines(
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
    // A live process has mappings: these are the files of a thread gone.
    if (maps.empty())
        return make_error(ErrorKind::ProcessGone, path + " shows no modules");
    if (maps == maps_ && !maps_.empty()) return {};
    maps_ = std::move(maps);
    described_.clear();
    // Modules reported again with the same name and range keep what libdwfl
    // already loaded for them; only new or gone ones change.
    FILE* f = fmemopen(maps_.data(), maps_.size(), "r");
    if (!f) return Error::from_errno("fmemopen");
    dwfl_report_begin(dwfl_.get());
    int r = dwfl_linux_proc_maps_report(dwfl_.get(), f);
    std::fclose(f);
    if (dwfl_report_end(dwfl_.get(), nullptr, nullptr) != 0)
        return dwfl_failure("dwfl_report_end");
    if (r != 0) {
        maps_.clear(); // report again next time
        if (r > 0) return Error::from_errno("reporting modules of pid " + std::to_string(pid_), r);
        return dwfl_failure("dwfl_linux_proc_maps_report");
    }
    return {};
}

Result<StackTrace> StackUnwinder::unwind(const UnwindInput& in) {
    PROBED_TRY(report_modules());
    Walk w;
    w.in = &in;
    walk_ = &w;
    UnwindInput from_caller;
    uint64_t pc = host::pc_of(in.regs);
    if (!host::kFramePointerFallbackHandlesEntry && entry_without_cfi(pc)) {
        // At the first instruction of a function without CFI (no .eh_frame,
        // no .debug_frame), libdwfl's only way on is its frame-pointer
        // fallback, and the frame pointer is still the caller's: it would
        // skip the caller. Where the return address is here is known
        // without CFI, so take that step ourselves and let libdwfl go on
        // from the caller (gdb gets this right by prologue analysis).
        auto read = [this](uint64_t addr, unsigned) -> Result<uint64_t> {
            uint64_t word = 0;
            if (!read_word(addr, word))
                return make_error(ErrorKind::Internal, "unreadable stack word");
            return word;
        };
        if (auto ret = host::return_address_at_entry(in.regs, read)) {
            uint64_t sp = host::stack_pointer_of(in.regs);
            uint64_t real = in.fixup ? in.fixup->apply_at_entry(sp, *ret) : *ret;
            w.frames.push_back({pc, true, false});
            w.first_via = real != *ret;
            from_caller = in;
            host::return_at_entry(from_caller.regs, real);
            w.in = &from_caller;
            w.starts_at_return = true;
        }
    }
    next_thread_served_ = 0;
    int rc = dwfl_getthread_frames(dwfl_.get(), in.tid, cb_frame, this);
    walk_ = nullptr;
    if (w.frames.empty()) return dwfl_failure("unwinding tid " + std::to_string(in.tid));
    if (rc == -1)
        spdlog::debug("tid {}: unwinding stopped after {} frames: {}", in.tid, w.frames.size(),
                      dwfl_errmsg(-1));

    StackTrace out;
    out.truncated = w.truncated;
    std::vector<bool> via = via_trampoline(w);
    for (size_t i = 0; i < w.frames.size(); ++i) {
        StackFrame f = describe(w.frames[i]);
        f.via_trampoline = via[i];
        out.frames.push_back(std::move(f));
    }
    return out;
}

// Which frames' PCs are return addresses we translated back from the
// trampoline. A step reads the callee's return address to make the caller's
// PC: from memory or, for the newest frame, the link register (translated
// as the initial registers, before libdwfl's first frame). Where libdwfl
// steps by CFI, a translation during a step marks the frame it produces.
// Its arm64 frame-pointer fallback (no CFI) reads a step ahead instead: it
// takes the new PC from the link register and loads the frame record's
// saved x30 into it, which becomes the PC one step later.
std::vector<bool> StackUnwinder::via_trampoline(const Walk& w) {
    std::vector<bool> via(w.frames.size(), false);
    size_t first = w.starts_at_return ? 1 : 0;
    if (first >= w.frames.size()) return via;
    via[first] = w.first_via;
    bool lr_translated = w.frames[first].step_translated; // the initial registers
    for (size_t k = first + 1; k < w.frames.size(); ++k) {
        const Walk::Raw& prev = w.frames[k - 1];
        bool read_ahead = host::kFramePointerFallbackReadsAhead &&
                          !has_cfi(prev.activation ? prev.pc : prev.pc - 1);
        if (read_ahead) {
            via[k] = lr_translated;
            lr_translated = w.frames[k].step_translated;
        } else {
            via[k] = w.frames[k].step_translated || (k - 1 == first && lr_translated);
            lr_translated = false;
        }
    }
    return via;
}

StackFrame StackUnwinder::describe(const Walk::Raw& raw) {
    // Deep recursion repeats the same few return addresses; describing one
    // (symbol, line table) costs far more than unwinding through it.
    constexpr size_t kMaxDescribed = 1u << 16;
    auto key = std::make_pair(raw.pc, raw.activation);
    if (auto it = described_.find(key); it != described_.end()) return it->second;
    if (described_.size() >= kMaxDescribed) described_.clear();
    StackFrame f = describe_uncached(raw);
    described_.emplace(key, f);
    return f;
}

StackFrame StackUnwinder::describe_uncached(const Walk::Raw& raw) {
    StackFrame f;
    f.pc = raw.pc;
    // A return address may be just past the function that made the call (a
    // call to a noreturn function ends it): look up the call instruction.
    Dwarf_Addr lookup = raw.activation ? raw.pc : raw.pc - 1;
    Dwfl_Module* mod = dwfl_addrmodule(dwfl_.get(), lookup);
    if (!mod) return f;
    if (const char* name =
            dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr))
        f.module = name;
    GElf_Off off = 0;
    GElf_Sym sym;
    if (const char* fn = dwfl_module_addrinfo(mod, lookup, &off, &sym, nullptr, nullptr, nullptr)) {
        // .dynsym names may carry a symbol version ("__libc_start_main@@GLIBC_2.34").
        std::string name = fn;
        f.function = demangle_symbol(name.substr(0, name.find('@')));
        f.offset = raw.pc - (lookup - off);
    }
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, lookup)) {
        int lineno = 0;
        const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
        if (file && lineno > 0) {
            f.file = file;
            f.line = lineno;
        }
    }
    return f;
}

bool StackUnwinder::entry_without_cfi(uint64_t pc) {
    Dwfl_Module* mod = dwfl_addrmodule(dwfl_.get(), pc);
    if (!mod) return false;
    GElf_Off off = 0;
    GElf_Sym sym;
    if (!dwfl_module_addrinfo(mod, pc, &off, &sym, nullptr, nullptr, nullptr) || off != 0)
        return false;
    return !has_cfi(pc);
}

bool StackUnwinder::has_cfi(uint64_t pc) {
    Dwfl_Module* mod = dwfl_addrmodule(dwfl_.get(), pc);
    if (!mod) return false;
    for (bool eh : {true, false}) {
        Dwarf_Addr bias = 0;
        Dwarf_CFI* cfi = eh ? dwfl_module_eh_cfi(mod, &bias) : dwfl_module_dwarf_cfi(mod, &bias);
        Dwarf_Frame* frame = nullptr;
        if (cfi && dwarf_cfi_addrframe(cfi, pc - bias, &frame) == 0) {
            free(frame);
            return true;
        }
    }
    return false;
}

bool StackUnwinder::read_word(uint64_t addr, uint64_t& out) {
    // Unwinding reads a few words per frame, mostly from the same stack
    // pages: read each page once per unwind rather than each word.
    uint8_t bytes[8];
    for (size_t i = 0; i < sizeof bytes;) {
        uint64_t at = addr + i;
        uint64_t base = at & ~(kPageSize - 1);
        auto it = walk_->pages.find(base);
        if (it == walk_->pages.end()) {
            std::vector<uint8_t> page(kPageSize);
            if (!walk_->in->read(base, page)) page.clear(); // remembered as unreadable
            it = walk_->pages.emplace(base, std::move(page)).first;
        }
        if (it->second.empty()) return false;
        size_t n = std::min<uint64_t>(sizeof bytes - i, base + kPageSize - at);
        std::memcpy(bytes + i, it->second.data() + (at - base), n);
        i += n;
    }
    std::memcpy(&out, bytes, sizeof out);
    return true;
}

pid_t StackUnwinder::cb_next_thread(Dwfl*, void* arg, void** thread_arg) {
    auto* self = static_cast<StackUnwinder*>(arg);
    if (!self->walk_ || self->next_thread_served_ != 0) return 0;
    self->next_thread_served_ = self->walk_->in->tid;
    *thread_arg = self;
    return self->next_thread_served_;
}

bool StackUnwinder::cb_get_thread(Dwfl*, pid_t tid, void* arg, void** thread_arg) {
    auto* self = static_cast<StackUnwinder*>(arg);
    if (!self->walk_ || tid != self->walk_->in->tid) return false;
    *thread_arg = self;
    return true;
}

// Every word libdwfl reads from the tracee comes through here: saved
// registers, and return addresses found by CFI (at CFA-8) or by the
// frame-pointer fallback (at rbp+8). The return probe replaced some of those
// return addresses by our trampoline, which is in no module and has no CFI:
// handed back as is, the unwind would stop there (which is what eu-stack and
// gdb do on a kernel uretprobe). Translating it here, inside the unwind,
// means libdwfl continues from the true return address with the caller's
// CFI. Where the word was read identifies the shadow-stack entry exactly: on
// x86_64 the hijacked slot is the word at the stack pointer at entry, which
// the entry recorded; on arm64 the callee's spill of x30 lies in its own
// frame (ReturnAddressFixup, arch::host::return_search).
bool StackUnwinder::cb_memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
    auto* self = static_cast<StackUnwinder*>(arg);
    if (!self->walk_) return false;
    uint64_t word = 0;
    if (!self->read_word(addr, word)) return false;
    if (self->walk_->in->fixup) {
        uint64_t real = self->walk_->in->fixup->apply(addr, word);
        if (real != word) self->walk_->translated = true;
        word = real;
    }
    *result = word;
    return true;
}

bool StackUnwinder::cb_set_initial_registers(Dwfl_Thread* thread, void* thread_arg) {
    auto* self = static_cast<StackUnwinder*>(thread_arg);
    const UnwindInput& in = *self->walk_->in;
    // Where the architecture returns through a register (arm64's x30), the
    // newest hijacked frame's trampoline may still be there: libdwfl takes
    // a leaf's return address from it.
    host::Regs regs = in.regs;
    if (in.fixup) {
        uint64_t lr = host::link_register(regs);
        uint64_t real = in.fixup->apply_link_register(lr);
        if (real != lr) self->walk_->translated = true;
        host::set_link_register(regs, real);
    }
    auto gprs = host::dwarf_gprs(regs);
    Dwarf_Word words[host::kDwarfGprCount];
    std::copy(gprs.begin(), gprs.end(), words);
    if (!dwfl_thread_state_registers(thread, 0, host::kDwarfGprCount, words)) return false;
    dwfl_thread_state_register_pc(thread, host::pc_of(regs));
    return true;
}

int StackUnwinder::cb_frame(Dwfl_Frame* state, void* arg) {
    auto* self = static_cast<StackUnwinder*>(arg);
    Walk& w = *self->walk_;
    Walk::Raw raw;
    // Before dwfl_frame_pc: asking whether a non-initial frame is an
    // activation makes libdwfl take the next step already, and what that
    // step translates belongs to the next frame.
    raw.step_translated = w.translated;
    w.translated = false;
    Dwarf_Addr pc = 0;
    bool activation = false;
    if (!dwfl_frame_pc(state, &pc, &activation)) return DWARF_CB_ABORT;
    raw.pc = pc;
    raw.activation = activation && !(w.starts_at_return && w.frames.size() == 1);
    w.frames.push_back(raw);
    if (w.frames.size() >= w.in->max_frames) {
        w.truncated = true;
        return DWARF_CB_ABORT;
    }
    return DWARF_CB_OK;
}

} // namespace probed
