// Graceful shutdown on SIGINT/SIGTERM for the server binaries.
#ifndef COMMON_SHUTDOWN_SIGNAL_H_
#define COMMON_SHUTDOWN_SIGNAL_H_

namespace tokens {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards. Call first thing in main, before any thread exists.
void BlockShutdownSignals();

// Waits until SIGINT or SIGTERM arrives; returns the signal number.
int WaitForShutdownSignal();

}  // namespace tokens

#endif  // COMMON_SHUTDOWN_SIGNAL_H_
