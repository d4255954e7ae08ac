// A library that carries its own copy of the unwinder (libgcc_eh, linked in
// with -static-libgcc) and walks its caller's stack with it. dlopen_target
// loads it, unloads it and loads it again: the engine must hook this copy's
// entry points each time it is loaded, and forget them when it is unloaded.
#include <stdint.h>
#include <unwind.h>

static _Unwind_Reason_Code count_frame(struct _Unwind_Context* ctx, void* arg) {
    (void)ctx;
    ++*(long*)arg;
    return _URC_NO_REASON;
}

// The frames above this one, as the unwinder sees them. A return address it
// cannot find unwind tables for (our trampoline's page) ends the walk early.
__attribute__((visibility("default"), noinline)) long walker_depth(void) {
    long frames = 0;
    _Unwind_Backtrace(count_frame, &frames);
    return frames;
}

// Where this copy of the unwinder's walk lives: dlopen_target keeps the
// page after dlclose so the next load cannot reuse the address.
__attribute__((visibility("default"))) uintptr_t walker_unwinder_address(void) {
    return (uintptr_t)&_Unwind_Backtrace;
}
