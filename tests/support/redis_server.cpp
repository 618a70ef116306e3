#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <netinet/in.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "saga/errc.hpp"

extern char** environ;

namespace saga::test {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("free_port: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0
            && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok)
    throw std::runtime_error("free_port: no free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

redis_server::redis_server(std::vector<std::string> args)
  : args_(std::move(args)) {
  char tmpl[] = "/tmp/saga-redis-test.XXXXXX";
  if (auto d = ::mkdtemp(tmpl))
    dir_ = d;
  port_ = free_port();
}

redis_server::~redis_server() {
  stop(true);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool redis_server::start() {
  if (running())
    return true;
  std::vector<std::string>
    argv{"redis-server", "--port",           std::to_string(port_),
         "--bind",       "127.0.0.1",        "--dir",
         dir_,           "--save",           "",
         "--logfile",    dir_ + "/redis.log"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, cargv.data(),
                     environ)
      != 0) {
    std::perror("posix_spawnp redis-server");
    pid_ = -1;
    return false;
  }
  // Process start-up: poll PING a bounded number of times.
  for (int i = 0; i < 200; ++i) {
    auto c = connect_loopback(port_, std::chrono::milliseconds{200});
    if (c) {
      // Any reply counts as up, NOAUTH included (password-protected server).
      c->append({"PING"});
      if (c->read())
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{25});
  }
  std::fprintf(stderr, "redis-server on port %d did not start (see %s)\n",
               port_, (dir_ + "/redis.log").c_str());
  stop(true);
  return false;
}

void redis_server::stop(bool hard) {
  if (!running())
    return;
  if (!hard) {
    if (auto c = connect_loopback(port_)) {
      c->append({"SHUTDOWN"});
      (void) c->read(); // the server closes the connection
    } else {
      hard = true;
    }
  }
  if (hard)
    ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

caf::expected<redis_connection>
connect_loopback(int port, std::chrono::milliseconds timeout) {
  redis_endpoint ep;
  ep.host = "127.0.0.1";
  ep.port = static_cast<uint16_t>(port);
  return redis_connection::connect(ep, timeout);
}

redis_connection must_connect(int port) {
  auto c = connect_loopback(port);
  if (!c)
    throw std::runtime_error("cannot connect: " + describe(c.error()));
  return std::move(*c);
}

redis_server& shared_server() {
  static redis_server server;
  static bool started = server.start();
  if (!started)
    std::fprintf(stderr, "the shared redis-server did not start\n");
  return server;
}

std::map<std::string, long long> read_hash(const std::string& url,
                                           const std::string& key) {
  std::map<std::string, long long> result;
  auto c = redis_connection::connect(*parse_redis_url(url),
                                     std::chrono::seconds{2});
  if (!c)
    return result;
  auto r = c->command({"HGETALL", key});
  if (!r)
    return result;
  for (size_t i = 0; i + 1 < (*r)->elements; i += 2)
    result[(*r)->element[i]->str] = std::atoll((*r)->element[i + 1]->str);
  return result;
}

std::string redis_server::url() const {
  return "redis://127.0.0.1:" + std::to_string(port_);
}

} // namespace saga::test
