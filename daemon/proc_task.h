#pragma once
// What /proc says about one thread, for the engine's waits.
#include <sys/types.h>

namespace probed {

// Whether thread `tid` has exited: a zombie waiting to be reaped (a main
// thread that left with pthread_exit stays one while other threads run
// on), being reaped, or gone.
bool thread_exited(pid_t tid);

} // namespace probed
