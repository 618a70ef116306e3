#include "tests/support/tls_certs.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>

extern char** environ;

namespace saga::test {

namespace {

/// Returns the openssl arguments that make a new P-256 key in `key` (fast
/// to generate, unlike RSA) with a request or a self-signed certificate.
std::vector<std::string> new_key(const std::string& key) {
  return {"-newkey", "ec",      "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes",  "-keyout", key};
}

} // namespace

tls_certs::tls_certs() {
  char tmpl[] = "/tmp/saga-tls-test.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("tls_certs: mkdtemp failed");
  dir_ = tmpl;
  for (auto ca : {"ca", "other-ca"}) {
    std::vector<std::string> args{"req", "-x509"};
    auto key = new_key(path(std::string{ca} + ".key"));
    args.insert(args.end(), key.begin(), key.end());
    args.insert(args.end(), {"-out", path(std::string{ca} + ".crt"), "-days",
                             "2", "-subj", std::string{"/CN=caf-saga "} + ca});
    openssl(std::move(args));
  }
  std::ofstream{path("server.ext")}
    << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  std::ofstream{path("client.ext")} << "extendedKeyUsage=clientAuth\n";
  for (auto who : {"server", "client"}) {
    std::vector<std::string> args{"req"};
    auto key = new_key(path(std::string{who} + ".key"));
    args.insert(args.end(), key.begin(), key.end());
    args.insert(args.end(), {"-out", path(std::string{who} + ".csr"), "-subj",
                             std::string{"/CN="} + who});
    openssl(std::move(args));
  }
  // -days -1: valid until yesterday, so expired (openssl 3 takes it).
  const std::pair<const char*, const char*> signed_certs[]
    = {{"server", "2"}, {"expired", "-1"}, {"client", "2"}};
  int serial = 1;
  for (auto [name, days] : signed_certs) {
    std::string who = name == std::string{"client"} ? "client" : "server";
    openssl({"x509", "-req", "-in", path(who + ".csr"), "-CA", path("ca.crt"),
             "-CAkey", path("ca.key"), "-set_serial", std::to_string(serial++),
             "-days", days, "-extfile", path(who + ".ext"), "-out",
             path(std::string{name} + ".crt")});
  }
}

tls_certs::~tls_certs() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void tls_certs::openssl(std::vector<std::string> args) const {
  args.insert(args.begin(), "openssl");
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& x : args)
    argv.push_back(x.data());
  argv.push_back(nullptr);
  // Its chatter goes to a log in the folder, read when a step fails.
  posix_spawn_file_actions_t io;
  posix_spawn_file_actions_init(&io);
  auto log = path("openssl.log");
  posix_spawn_file_actions_addopen(&io, 1, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&io, 1, 2);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "openssl", &io, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&io);
  int status = 0;
  if (rc != 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
      || WEXITSTATUS(status) != 0) {
    std::string step;
    for (const auto& x : args)
      step += x + " ";
    throw std::runtime_error("tls_certs: '" + step + "' failed (see " + log
                             + ")");
  }
}

std::vector<std::string> tls_certs::redis_args(int tls_port,
                                               const std::string& cert,
                                               bool client_auth) const {
  return {"--tls-port",         std::to_string(tls_port),
          "--tls-cert-file",    path(cert),
          "--tls-key-file",     path("server.key"),
          "--tls-ca-cert-file", path("ca.crt"),
          "--tls-auth-clients", client_auth ? "yes" : "no"};
}

const tls_certs& shared_certs() {
  static tls_certs certs;
  return certs;
}

} // namespace saga::test
