// The child process helper of the multi-process tests: waiting for lines,
// EOF, SIGSTOP/SIGCONT, SIGKILL, exit statuses, the log copy and free ports.

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/child_process.hpp"

using namespace std::chrono_literals;

namespace saga::test {
namespace {

std::vector<std::string> sh(const std::string& script) {
  return {"-c", script};
}

TEST(child_process, wait_for_line_returns_the_first_matching_line) {
  child_process p{"/bin/sh", sh("echo starting; echo ready 42; read x")};
  EXPECT_GT(p.pid(), 0);
  auto line = p.wait_for_line("ready", 10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "ready 42");
  EXPECT_TRUE(p.running());
  EXPECT_EQ(p.lines(), (std::vector<std::string>{"starting", "ready 42"}));
  // Only lines after the ones already seen: none arrives, so a timeout.
  auto from = p.line_count();
  EXPECT_EQ(from, 2u);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.wait_for_line("ready", 100ms, from));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
}

TEST(child_process, wait_for_line_waits_for_later_output) {
  child_process p{"/bin/sh", sh("echo a; sleep 0.2; echo b late; read x")};
  auto line = p.wait_for_line("late", 10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "b late");
}

TEST(child_process, stderr_is_merged_into_the_lines) {
  child_process p{"/bin/sh", sh("echo to-stderr >&2; read x")};
  EXPECT_TRUE(p.wait_for_line("to-stderr", 10s));
}

TEST(child_process, wait_for_line_returns_nullopt_at_eof_at_once) {
  child_process p{"/bin/sh", sh("echo one; printf partial")};
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.wait_for_line("never", 30s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // The partial last line is delivered at EOF.
  EXPECT_EQ(p.lines(), (std::vector<std::string>{"one", "partial"}));
  auto status = p.wait_exit(10s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_FALSE(p.running());
}

TEST(child_process, after_wait_for_eof_every_line_was_read) {
  // The process exits at once after writing 40 KB (it fits in the pipe):
  // the reaper often sees the exit while the reader still has most of it
  // to read (issue 17: operate_test missed sagactl's one error line so).
  child_process p{"/bin/sh", sh("yes 'a line of output' | head -n 2000; "
                                "echo last; exit 3")};
  auto status = p.wait_exit(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  ASSERT_TRUE(p.wait_for_eof(10s));
  auto lines = p.lines();
  ASSERT_EQ(lines.size(), 2001u);
  EXPECT_EQ(lines.back(), "last");
}

TEST(child_process, wait_exit_returns_the_exit_code) {
  child_process p{"/bin/sh", sh("exit 3")};
  auto status = p.wait_exit(10s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  // Later calls return the same status.
  EXPECT_EQ(p.wait_exit(0ms), status);
}

TEST(child_process, sigstop_and_sigcont_are_not_an_exit) {
  child_process p{"/bin/sh", sh("echo ready; read x")};
  ASSERT_TRUE(p.wait_for_line("ready", 10s));
  p.signal(SIGSTOP);
  // Blocks until the child stopped (WNOWAIT: leaves the event to others).
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, p.pid(), &info, WSTOPPED | WNOWAIT), 0);
  EXPECT_EQ(info.si_code, CLD_STOPPED);
  EXPECT_FALSE(p.wait_exit(200ms));
  EXPECT_TRUE(p.running());
  p.signal(SIGCONT);
  EXPECT_FALSE(p.wait_exit(100ms));
  EXPECT_TRUE(p.running());
}

TEST(child_process, sigkill_then_wait_exit_reports_the_signal) {
  child_process p{"/bin/sh", sh("echo ready; read x")};
  ASSERT_TRUE(p.wait_for_line("ready", 10s));
  p.signal(SIGKILL);
  auto status = p.wait_exit(10s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
  EXPECT_FALSE(p.running());
  p.signal(SIGKILL); // reaped: a no-op, never a reused pid
}

TEST(child_process, sigkill_of_a_stopped_process_reports_the_signal) {
  child_process p{"/bin/sh", sh("echo ready; read x")};
  ASSERT_TRUE(p.wait_for_line("ready", 10s));
  p.signal(SIGSTOP);
  p.signal(SIGKILL);
  auto status = p.wait_exit(10s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
}

TEST(child_process, running_is_false_right_after_the_exit) {
  child_process p{"/bin/sh", sh("echo bye")};
  // EOF comes when the shell exits (or just before): running() must then
  // turn false without any sleep in between.
  EXPECT_FALSE(p.wait_for_line("never", 10s));
  ASSERT_TRUE(p.wait_exit(10s));
  EXPECT_FALSE(p.running());
}

TEST(child_process, destructor_kills_a_stopped_process) {
  pid_t pid = -1;
  {
    child_process p{"/bin/sh", sh("echo ready; read x")};
    ASSERT_TRUE(p.wait_for_line("ready", 10s));
    pid = p.pid();
    p.signal(SIGSTOP);
  }
  // Reaped by the destructor: no longer our child.
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
}

TEST(child_process, destructor_returns_while_a_grandchild_holds_the_output) {
  auto start = std::chrono::steady_clock::now();
  {
    child_process p{"/bin/sh", sh("sleep 5 & echo ready; read x")};
    ASSERT_TRUE(p.wait_for_line("ready", 10s));
    p.signal(SIGKILL);
    // The exit is seen although the pipe has no EOF yet (sleep holds it).
    ASSERT_TRUE(p.wait_exit(10s));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST(child_process, output_is_appended_to_the_log) {
  char tmpl[] = "/tmp/child_process_test.XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string path = tmpl;
  {
    std::ofstream{path} << "earlier\n";
    child_process p{"/bin/sh", sh("echo first; echo second >&2; printf end"),
                    path};
    EXPECT_FALSE(p.wait_for_line("never", 10s));
  }
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "earlier\nfirst\nsecond\nend");
  std::remove(path.c_str());
}

TEST(child_process, a_missing_executable_throws_naming_it) {
  try {
    child_process p{"/nonexistent/saga-node", {}};
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("/nonexistent/saga-node"),
              std::string::npos)
      << e.what();
  }
}

TEST(child_process, the_executable_is_searched_in_path) {
  child_process p{"echo", {"hello", "world"}};
  auto line = p.wait_for_line("hello", 10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "hello world");
}

TEST(child_process, many_lines_from_many_threads) {
  child_process p{"/bin/sh", sh("i=0; while [ $i -lt 2000 ]; do echo line $i; "
                                "i=$((i+1)); done; echo done; read x")};
  std::vector<std::thread> waiters;
  waiters.reserve(4);
  for (int t = 0; t < 4; ++t)
    waiters.emplace_back([&] { EXPECT_TRUE(p.wait_for_line("done", 30s)); });
  for (auto& w : waiters)
    w.join();
  auto lines = p.lines();
  ASSERT_EQ(lines.size(), 2001u);
  EXPECT_EQ(lines[1999], "line 1999");
}

TEST(child_process, free_loopback_port_returns_a_port) {
  EXPECT_NE(free_loopback_port(), 0);
}

} // namespace
} // namespace saga::test
