#include "tests/support/child_process.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace saga::test {

namespace {

std::runtime_error sys_error(const std::string& what, int err) {
  return std::runtime_error(what + ": " + std::strerror(err));
}

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

/// Reads from the child's output after the destructor woke the reader at
/// most this many times: bounds the drain if a grandchild keeps writing.
constexpr int max_drain_reads = 256;

} // namespace

uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw sys_error("free_loopback_port: socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    throw sys_error("free_loopback_port: bind 127.0.0.1:0", err);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

child_process::child_process(const std::string& exe,
                             std::vector<std::string> args,
                             const std::string& log_path) {
  const std::string name = "child_process " + exe;
  if (!log_path.empty()) {
    log_ = std::fopen(log_path.c_str(), "ae"); // 'e': O_CLOEXEC
    if (log_ == nullptr)
      throw sys_error(name + ": cannot open log " + log_path, errno);
  }
  // All descriptors are close-on-exec, so processes started concurrently by
  // other threads do not inherit them (and keep our pipes from reaching EOF).
  int out[2] = {-1, -1};  // child's stdout+stderr -> reader thread
  int in[2] = {-1, -1};   // child's stdin, held open by us
  int wake[2] = {-1, -1}; // destructor -> reader thread
  int err[2] = {-1, -1};  // child -> parent: errno of a failed exec
  auto cleanup = [&] {
    for (int* p : {out, in, wake, err}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
    if (log_ != nullptr) {
      std::fclose(log_);
      log_ = nullptr;
    }
  };
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0
      || ::pipe2(wake, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    cleanup();
    throw sys_error(name + ": pipe2", e);
  }
  // Everything the child needs is prepared before fork: after fork, the
  // child of a multi-threaded program may call async-signal-safe functions
  // only.
  args.insert(args.begin(), exe);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    cleanup();
    throw sys_error(name + ": fork", e);
  }
  if (pid == 0) {
    int e = 0;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) // the parent died before prctl
      ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    // Move the pipe ends above 2 first, so that dup2 onto 0, 1 and 2 neither
    // overwrites one of them nor keeps FD_CLOEXEC (if one already was 0-2).
    int child_in = ::fcntl(in[0], F_DUPFD_CLOEXEC, 3);
    int child_out = ::fcntl(out[1], F_DUPFD_CLOEXEC, 3);
    if (child_in < 0 || child_out < 0 || ::dup2(child_in, STDIN_FILENO) < 0
        || ::dup2(child_out, STDOUT_FILENO) < 0
        || ::dup2(child_out, STDERR_FILENO) < 0) {
      e = errno;
    } else {
      ::execvp(argv[0], argv.data());
      e = errno;
    }
    [[maybe_unused]] auto n = ::write(err[1], &e, sizeof(e));
    ::_exit(127);
  }
  pid_ = pid;
  close_fd(out[1]);
  close_fd(in[0]);
  close_fd(err[1]);
  // EOF: exec succeeded (closing err[1]); an int: the errno of the failure.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close_fd(err[0]);
  if (n != 0) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      // retry
    }
    cleanup();
    throw sys_error(name + ": cannot execute",
                    n == static_cast<ssize_t>(sizeof(exec_errno)) ? exec_errno
                                                                  : EIO);
  }
  out_fd_ = out[0];
  in_fd_ = in[1];
  wake_rd_ = wake[0];
  wake_wr_ = wake[1];
  try {
    reaper_ = std::thread{[this] { reap_loop(); }};
    reader_ = std::thread{[this] { read_loop(); }};
  } catch (...) {
    ::kill(pid_, SIGKILL);
    if (reaper_.joinable())
      reaper_.join();
    else
      ::waitpid(pid_, nullptr, 0);
    close_fd(out_fd_);
    close_fd(in_fd_);
    close_fd(wake_rd_);
    close_fd(wake_wr_);
    if (log_ != nullptr) {
      std::fclose(log_);
      log_ = nullptr;
    }
    throw;
  }
}

child_process::~child_process() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!exited_) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
    }
  }
  reaper_.join();
  // The process is gone; the reader copies what is left in the pipe and
  // stops, even if a grandchild still holds the pipe open.
  char c = 1;
  while (::write(wake_wr_, &c, 1) < 0 && errno == EINTR) {
    // retry
  }
  reader_.join();
  close_fd(out_fd_);
  close_fd(in_fd_);
  close_fd(wake_rd_);
  close_fd(wake_wr_);
  if (log_ != nullptr)
    std::fclose(log_);
}

std::optional<std::string>
child_process::wait_for_line(std::string_view needle,
                             std::chrono::milliseconds timeout, size_t from) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock{mtx_};
  size_t i = from;
  for (bool last_look = false;;) {
    for (; i < lines_.size(); ++i)
      if (lines_[i].find(needle) != std::string::npos)
        return lines_[i];
    if (eof_ || last_look)
      return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout)
      last_look = true;
  }
}

bool child_process::wait_for_lines(std::string_view needle, size_t n,
                                   std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock{mtx_};
  size_t i = 0;
  size_t found = 0;
  for (bool last_look = false;;) {
    for (; i < lines_.size(); ++i)
      if (lines_[i].find(needle) != std::string::npos && ++found >= n)
        return true;
    if (eof_ || last_look)
      return false;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout)
      last_look = true;
  }
}

bool child_process::wait_for_eof(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  return cv_.wait_for(lock, timeout, [this] { return eof_; });
}

size_t child_process::line_count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return lines_.size();
}

std::vector<std::string> child_process::lines() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return lines_;
}

void child_process::signal(int sig) {
  // Only the reaper reaps, under mtx_: while exited_ is false, pid_ is still
  // our child (possibly a zombie), never a reused pid.
  std::lock_guard<std::mutex> guard{mtx_};
  if (!exited_)
    ::kill(pid_, sig);
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  if (!cv_.wait_for(lock, timeout, [this] { return exited_; }))
    return std::nullopt;
  return status_;
}

bool child_process::running() {
  std::unique_lock<std::mutex> lock{mtx_};
  if (exited_)
    return false;
  siginfo_t info{};
  if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0
      && info.si_pid == 0)
    return true; // running or stopped
  // A zombie (or an error): the reaper, already woken, reaps it at once.
  cv_.wait(lock, [this] { return exited_; });
  return false;
}

void child_process::reap_loop() {
  // Waits without reaping (WNOWAIT), then reaps under mtx_, so that signal()
  // never sends to a pid that was reaped and possibly reused. No WUNTRACED:
  // a stopped process is not reported.
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, pid_, &info, WEXITED | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  std::lock_guard<std::mutex> guard{mtx_};
  int status = -1; // stays -1 if someone else reaped our child
  if (rc == 0) {
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != pid_)
      status = -1;
  }
  status_ = status;
  exited_ = true;
  cv_.notify_all();
}

void child_process::read_loop() {
  char buf[4096];
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {wake_rd_, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[1].revents != 0) {
      // Woken by the destructor: copy what is available, without blocking.
      for (int i = 0; i < max_drain_reads; ++i) {
        pollfd p{out_fd_, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0 || p.revents == 0)
          break;
        auto n = ::read(out_fd_, buf, sizeof(buf));
        if (n <= 0)
          break;
        consume(buf, static_cast<size_t>(n));
      }
      break;
    }
    if (fds[0].revents != 0) {
      auto n = ::read(out_fd_, buf, sizeof(buf));
      if (n > 0) {
        consume(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      break; // EOF (or a read error)
    }
  }
  finish_output();
}

void child_process::consume(const char* data, size_t n) {
  if (log_ != nullptr) {
    std::fwrite(data, 1, n, log_);
    std::fflush(log_);
  }
  std::vector<std::string> complete;
  const char* end = data + n;
  while (data < end) {
    auto nl = static_cast<const char*>(std::memchr(data, '\n', end - data));
    if (nl == nullptr) {
      partial_.append(data, end);
      break;
    }
    partial_.append(data, nl);
    complete.push_back(std::move(partial_));
    partial_.clear();
    data = nl + 1;
  }
  if (complete.empty())
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& line : complete)
    lines_.push_back(std::move(line));
  cv_.notify_all();
}

void child_process::finish_output() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!partial_.empty()) {
    lines_.push_back(std::move(partial_));
    partial_.clear();
  }
  eof_ = true;
  cv_.notify_all();
}

} // namespace saga::test
