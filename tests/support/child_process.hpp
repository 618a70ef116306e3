#pragma once

// Real child processes for multi-process tests and benchmarks: start a node,
// wait (event-driven, no sleeps) until it prints a line, pause it with
// SIGSTOP/SIGCONT, kill it with SIGKILL, read what it printed.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace saga::test {

/// Returns a TCP port on 127.0.0.1 that was free a moment ago (binds to port
/// 0, reads the port, closes). Throws std::runtime_error if no socket could be
/// bound. Named apart from `free_port` in tests/support/redis_server.hpp so
/// that both headers can be used in one test program.
uint16_t free_loopback_port();

/// A child process whose stdout and stderr (merged) are read line by line by
/// a background thread, kept in memory and copied to a log file. Its stdin is
/// a pipe that stays open (and empty) until the destructor runs. The
/// destructor kills (SIGCONT, then SIGKILL) and reaps the process if it still
/// runs. Owns the process, its pipes and two threads (reader and reaper);
/// thread-safe: any thread may call any member except the destructor.
///
/// The child gets PR_SET_PDEATHSIG(SIGKILL), so it dies with the test program.
/// Linux ties that to the *thread* that created the child_process: create it
/// from a thread that outlives it (e.g. the test's main thread).
class child_process {
public:
  /// Starts `exe` (searched in PATH if it has no '/') with `args` (argv[0] is
  /// `exe`); output also goes to `log_path` (appended, a raw copy; empty: no
  /// file). Throws std::runtime_error naming the problem if the log cannot be
  /// opened or the process cannot be started (including a failed exec).
  child_process(const std::string& exe, std::vector<std::string> args,
                const std::string& log_path = {});

  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Returns the process id (still returned after the process was reaped).
  pid_t pid() const noexcept {
    return pid_;
  }

  /// Returns the first line (searching from line index `from`) that contains
  /// `needle`, waiting up to `timeout` for it; std::nullopt on timeout or when
  /// the process's output ended (EOF) without it. Lines exclude the '\n'.
  std::optional<std::string> wait_for_line(std::string_view needle,
                                           std::chrono::milliseconds timeout,
                                           size_t from = 0);

  /// Returns whether at least `n` lines containing `needle` were read within
  /// `timeout` (false also when the output ended with fewer).
  bool wait_for_lines(std::string_view needle, size_t n,
                      std::chrono::milliseconds timeout);

  /// Returns the number of lines read so far (use as `from` to wait only for
  /// newer lines).
  size_t line_count() const;

  /// Returns a copy of all lines read so far.
  std::vector<std::string> lines() const;

  /// Returns whether the output ended (EOF: the process, and whatever it
  /// started, closed it) within `timeout`; `lines()` then holds all of it.
  /// Call it after `wait_exit` before reading what a process printed: the
  /// exit can be seen before the last of its output was read.
  bool wait_for_eof(std::chrono::milliseconds timeout);

  /// Sends `sig` to the process (SIGKILL, SIGSTOP, SIGCONT, SIGTERM, ...);
  /// does nothing once the process was reaped (its pid may be reused).
  void signal(int sig);

  /// Waits up to `timeout` for the process to exit; returns its wait status
  /// (as from waitpid; the same status on later calls; -1 if something else
  /// reaped it, e.g. with SIGCHLD ignored), or std::nullopt on timeout. A
  /// stopped process has not exited. The process is reaped.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  /// Returns whether the process has not exited yet (reaps it if it has).
  bool running();

private:
  void read_loop();

  void reap_loop();

  /// Copies `n` bytes of output to the log and appends the lines they
  /// complete to lines_ (takes mtx_).
  void consume(const char* data, size_t n);

  /// Delivers a partial last line, marks EOF and wakes waiters (takes mtx_).
  void finish_output();

  // Immutable after construction.
  pid_t pid_ = -1;
  int out_fd_ = -1;  // read end of the child's stdout+stderr
  int in_fd_ = -1;   // write end of the child's stdin (never written)
  int wake_rd_ = -1; // the destructor wakes the reader through this pipe
  int wake_wr_ = -1;
  std::FILE* log_ = nullptr; // used by the reader thread only

  // Reader thread only.
  std::string partial_;

  // Guarded by mtx_.
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
  bool exited_ = false;
  int status_ = -1;

  std::thread reader_;
  std::thread reaper_;
};

} // namespace saga::test
