// Loads libwalker.so, walks the stack through it from a probed function,
// unloads it, and loads it again at another address (the old one is kept
// taken by an anonymous mapping filled with a pattern), walking again. The
// walk counts must not change with a return probe pending on walk_through:
// the engine must hook the second load's unwinder as it did the first's.
// After a pause (the test detaches there), the pattern must be intact: the
// engine must not have written into the memory where the first load was.
//
//   dlopen_target wait LIBPATH   wait for SIGUSR1 before the loads and before
//                                the final check
//   dlopen_target run LIBPATH    the same without waiting
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noipa))

static int wait_signals;

static void wait_go(void) {
    if (!wait_signals) return;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int sig;
    sigwait(&set, &sig);
}

// The probed function: its return address is hijacked while the walk runs.
NOINLINE long walk_through(long (*walk)(void)) {
    long frames = walk();
    __asm__ volatile("" : "+r"(frames)); // a real call, not a tail call
    return frames;
}

struct loaded {
    void* handle;
    long (*walk)(void);
    uintptr_t unwinder;
    uintptr_t lo, hi; // every mapping of the library
};

// The address range the library containing `code` is mapped at.
static int library_range(void* code, uintptr_t* lo, uintptr_t* hi) {
    Dl_info info;
    if (!dladdr(code, &info) || !info.dli_fname) return -1;
    char real[4096];
    if (!realpath(info.dli_fname, real)) return -1;
    FILE* f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[4096 + 128];
    *lo = UINTPTR_MAX;
    *hi = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end;
        char path[4096] = "";
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095s", &start, &end, path) < 2) continue;
        if (strcmp(path, real) != 0) continue;
        if (start < *lo) *lo = start;
        if (end > *hi) *hi = end;
    }
    fclose(f);
    return *hi > *lo ? 0 : -1;
}

static int load(const char* path, struct loaded* l) {
    l->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return -1;
    }
    l->walk = (long (*)(void))dlsym(l->handle, "walker_depth");
    uintptr_t (*where)(void) = (uintptr_t(*)(void))dlsym(l->handle, "walker_unwinder_address");
    if (!l->walk || !where) return -1;
    l->unwinder = where();
    return library_range((void*)l->walk, &l->lo, &l->hi);
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: %s wait|run LIBPATH\n", argv[0]);
        return 2;
    }
    wait_signals = !strcmp(argv[1], "wait");
    const char* lib = argv[2];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("ready %d\n", getpid());
    wait_go();

    struct loaded first;
    if (load(lib, &first) != 0) return 1;
    printf("first load: %ld frames\n", walk_through(first.walk));
    dlclose(first.handle);
    if (dlopen(lib, RTLD_NOW | RTLD_NOLOAD)) {
        printf("still loaded after dlclose\n");
        return 1;
    }
    // Take the whole range of the first load, so the second one lands
    // elsewhere and any write into it shows.
    size_t span = first.hi - first.lo;
    char* keep = mmap((void*)first.lo, span, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (keep == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(keep, 0x5a, span);

    struct loaded second;
    if (load(lib, &second) != 0) return 1;
    printf("second load: %ld frames, at the first one's address %d\n",
           walk_through(second.walk), second.unwinder == first.unwinder);
    printf("loaded twice\n");
    wait_go();

    size_t changed = 0;
    for (size_t i = 0; i < span; ++i) changed += keep[i] != 0x5a;
    printf("bytes changed where the first load was: %zu\n", changed);
    return 0;
}
