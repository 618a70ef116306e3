#include "persistence/redis_socket.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "saga/errc.hpp"

namespace saga {

namespace {

/// Bytes moved between the socket and TLS per call: a pipeline's replies
/// usually fit in one.
constexpr size_t tls_chunk_bytes = 16 * 1024;

/// TCP keepalive: a peer that vanished without a FIN is noticed in about
/// idle + interval * count seconds even when no command is pending (as
/// hiredis' redisEnableKeepAlive).
constexpr int keepalive_idle_s = 15;
constexpr int keepalive_interval_s = 5;
constexpr int keepalive_count = 3;

/// Returns the reason of the last OpenSSL error (and clears the queue), or
/// `fallback` if there is none.
std::string openssl_reason(const char* fallback) {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return fallback;
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : fallback;
}

bool is_ip_address(const std::string& host) {
  std::array<unsigned char, sizeof(in6_addr)> buf{};
  return ::inet_pton(AF_INET, host.c_str(), buf.data()) == 1
         || ::inet_pton(AF_INET6, host.c_str(), buf.data()) == 1;
}

/// Returns whether the file at `path` can be opened for reading.
bool readable(const std::string& path) {
  std::ifstream in{path};
  return in.good();
}

caf::error tls_file_error(const char* what, const std::string& path,
                          const std::string& why) {
  return make_error(errc::invalid_config,
                    std::string{"TLS: "} + what + " '" + path + "': " + why);
}

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void set_tcp_options(int fd) {
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive_idle_s,
               sizeof(keepalive_idle_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepalive_interval_s,
               sizeof(keepalive_interval_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &keepalive_count,
               sizeof(keepalive_count));
}

/// Returns a blocking socket connected to `addr` within `timeout`, or -1
/// with `why` set.
int connect_fd(const sockaddr* addr, socklen_t len,
               std::chrono::milliseconds timeout, std::string& why) {
  why.clear(); // an earlier address' failure is not this one's
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
  if (fd < 0) {
    why = std::strerror(errno);
    return -1;
  }
  if (::connect(fd, addr, len) != 0 && errno != EINPROGRESS) {
    why = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int ready = 0;
  do
    ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (ready < 0 && errno == EINTR);
  int err = 0;
  socklen_t err_len = sizeof(err);
  if (ready == 0)
    why = "no answer within " + std::to_string(timeout.count()) + " ms";
  else if (ready < 0)
    why = std::strerror(errno);
  else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0
           || err != 0)
    why = std::strerror(err != 0 ? err : errno);
  if (!why.empty()) {
    ::close(fd);
    return -1;
  }
  // Blocking from here: reads and writes wait in the kernel, bounded by
  // SO_RCVTIMEO and SO_SNDTIMEO (one system call per read, as hiredis).
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd, timeout);
  return fd;
}

/// Returns a socket connected to `host`:`port` (any of its addresses), or
/// -1 with `why` set.
int connect_tcp(const redis_host& addr, std::chrono::milliseconds timeout,
                std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_INET; // as hiredis: IPv4 first, then IPv6
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(addr.port);
  int rc = ::getaddrinfo(addr.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    hints.ai_family = AF_INET6;
    rc = ::getaddrinfo(addr.host.c_str(), port.c_str(), &hints, &found);
  }
  if (rc != 0) {
    why = "cannot resolve '" + addr.host + "': " + ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (auto* x = found; x != nullptr && fd < 0; x = x->ai_next)
    fd = connect_fd(x->ai_addr, x->ai_addrlen, timeout, why);
  ::freeaddrinfo(found);
  if (fd >= 0)
    set_tcp_options(fd);
  return fd;
}

int connect_unix(const std::string& path, std::chrono::milliseconds timeout,
                 std::string& why) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    why = "the socket path is longer than "
          + std::to_string(sizeof(addr.sun_path) - 1) + " bytes";
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return connect_fd(reinterpret_cast<const sockaddr*>(&addr), sizeof(addr),
                    timeout, why);
}

} // namespace

// -- redis_tls_context --------------------------------------------------------

redis_tls_context::~redis_tls_context() {
  SSL_CTX_free(ctx_);
}

caf::expected<std::shared_ptr<const redis_tls_context>>
redis_tls_context::of(const redis_endpoint& ep) {
  if (!ep.tls)
    return std::shared_ptr<const redis_tls_context>{};
  return make(*ep.tls);
}

caf::expected<std::shared_ptr<const redis_tls_context>>
redis_tls_context::make(const redis_tls& tls) {
  std::shared_ptr<redis_tls_context> out{new redis_tls_context};
  out->server_name_ = tls.server_name;
  out->ctx_ = SSL_CTX_new(TLS_client_method());
  if (out->ctx_ == nullptr)
    return make_error(errc::journal_failure,
                      "TLS: " + openssl_reason("cannot make a context"));
  auto* ctx = out->ctx_;
  ERR_clear_error(); // the reasons below are this call's
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // An encrypted key would make OpenSSL prompt on the terminal: refuse it.
  SSL_CTX_set_default_passwd_cb(ctx, [](char*, int, int, void*) -> int {
    return 0;
  });
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (tls.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
      return make_error(errc::invalid_config,
                        "TLS: cannot load the system's certificate "
                        "authorities: "
                          + openssl_reason("unknown error"));
  } else if (!readable(tls.ca_file)) {
    return tls_file_error("cannot read ca_file", tls.ca_file,
                          std::strerror(errno));
  } else if (SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr)
             != 1) {
    return tls_file_error("no certificate authority in ca_file", tls.ca_file,
                          openssl_reason("not PEM"));
  }
  if (tls.cert_file.empty())
    return out;
  for (const auto* path : {&tls.cert_file, &tls.key_file})
    if (!readable(*path))
      return tls_file_error(path == &tls.cert_file ? "cannot read cert_file"
                                                   : "cannot read key_file",
                            *path, std::strerror(errno));
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1)
    return tls_file_error("no certificate in cert_file", tls.cert_file,
                          openssl_reason("not PEM"));
  // Loading a key checks it against the certificate loaded before.
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM)
        != 1
      || SSL_CTX_check_private_key(ctx) != 1) {
    const auto code = ERR_peek_last_error();
    const bool mismatch = ERR_GET_LIB(code) == ERR_LIB_X509
                          && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
    return tls_file_error(mismatch ? "key_file does not match cert_file"
                                   : "no private key in key_file (an "
                                     "encrypted key is not supported)",
                          tls.key_file, openssl_reason("not PEM"));
  }
  out->client_certificate_ = true;
  return out;
}

// -- redis_socket -------------------------------------------------------------

redis_socket::redis_socket(redis_socket&& other) noexcept {
  *this = std::move(other);
}

redis_socket& redis_socket::operator=(redis_socket&& other) noexcept {
  if (this != &other) {
    close();
    std::swap(fd_, other.fd_);
    std::swap(timeout_, other.timeout_);
    std::swap(tls_, other.tls_);
    std::swap(ssl_, other.ssl_);
    std::swap(rbio_, other.rbio_);
    std::swap(wbio_, other.wbio_);
  }
  return *this;
}

redis_socket::~redis_socket() {
  close();
}

void redis_socket::close() noexcept {
  if (ssl_ != nullptr)
    SSL_free(ssl_); // frees both BIOs
  ssl_ = nullptr;
  rbio_ = nullptr;
  wbio_ = nullptr;
  tls_.reset();
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

std::string redis_socket::connect(const redis_host& addr,
                                  const std::string& socket_path,
                                  std::shared_ptr<const redis_tls_context> tls,
                                  std::chrono::milliseconds timeout) {
  close();
  timeout_ = timeout;
  std::string why;
  fd_ = socket_path.empty() ? connect_tcp(addr, timeout, why)
                            : connect_unix(socket_path, timeout, why);
  if (fd_ < 0)
    return "cannot connect: " + why;
  if (tls == nullptr)
    return {};
  tls_ = std::move(tls);
  why = handshake(addr.host);
  if (!why.empty())
    close();
  return why;
}

std::string redis_socket::io_error(int err) const {
  if (err == EAGAIN || err == EWOULDBLOCK)
    return "did not answer within " + std::to_string(timeout_.count()) + " ms";
  return std::strerror(err);
}

std::string redis_socket::handshake(const std::string& host) {
  ssl_ = SSL_new(tls_->native());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || rbio_ == nullptr || wbio_ == nullptr) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    return "TLS: " + openssl_reason("out of memory");
  }
  // An empty read buffer means "wait for the socket", not end of stream.
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_connect_state(ssl_);
  // The name is always checked: an empty one would turn the check off.
  const auto& name = tls_->server_name().empty() ? host : tls_->server_name();
  if (name.empty())
    return "TLS: no name to verify the server's certificate for (set "
           "server_name)";
  const bool named
    = is_ip_address(name)
        ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) == 1
        : SSL_set_tlsext_host_name(ssl_, name.c_str()) == 1
            && SSL_set1_host(ssl_, name.c_str()) == 1;
  if (!named)
    return "TLS: cannot verify the certificate for '" + name
           + "': " + openssl_reason("not a valid name");
  while (true) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    auto err = SSL_get_error(ssl_, rc);
    if (auto why = flush_tls(); !why.empty())
      return "TLS handshake: " + why;
    if (rc == 1)
      return {};
    if (err == SSL_ERROR_WANT_READ) {
      if (auto why = fill_tls(); !why.empty())
        return "TLS handshake: " + why
               + " (does the server speak TLS on this port?)";
      continue;
    }
    if (auto verdict = SSL_get_verify_result(ssl_); verdict != X509_V_OK) {
      ERR_clear_error();
      return "TLS: the server's certificate is refused: "
             + std::string{X509_verify_cert_error_string(verdict)};
    }
    return "TLS handshake failed: " + openssl_reason("unknown error")
           + " (does the server speak TLS on this port?)";
  }
}

std::string redis_socket::flush_tls() {
  std::array<char, tls_chunk_bytes> buf;
  while (BIO_ctrl_pending(wbio_) > 0) {
    int n = BIO_read(wbio_, buf.data(), static_cast<int>(buf.size()));
    if (n <= 0)
      break;
    size_t sent = 0;
    while (sent < static_cast<size_t>(n)) {
      auto rc = ::send(fd_, buf.data() + sent, n - sent, MSG_NOSIGNAL);
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc < 0)
        return io_error(errno);
      sent += static_cast<size_t>(rc);
    }
  }
  return {};
}

std::string redis_socket::fill_tls() {
  std::array<char, tls_chunk_bytes> buf;
  while (true) {
    auto n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_error(errno);
    if (n == 0)
      return "the server closed the connection";
    if (BIO_write(rbio_, buf.data(), static_cast<int>(n)) != n)
      return "TLS: out of memory";
    return {};
  }
}

std::string redis_socket::write_all(std::string_view bytes) {
  assert(is_open());
  if (ssl_ == nullptr) {
    while (!bytes.empty()) {
      auto rc = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc < 0)
        return io_error(errno);
      bytes.remove_prefix(static_cast<size_t>(rc));
    }
    return {};
  }
  // Memory BIOs take every byte: SSL_write encrypts all of `bytes` into
  // `wbio_` at once, then the socket gets them.
  while (!bytes.empty()) {
    ERR_clear_error();
    const auto chunk = std::min<size_t>(bytes.size(), 1 << 30);
    int rc = SSL_write(ssl_, bytes.data(), static_cast<int>(chunk));
    if (rc > 0) {
      bytes.remove_prefix(static_cast<size_t>(rc));
      continue;
    }
    auto err = SSL_get_error(ssl_, rc);
    if (auto why = flush_tls(); !why.empty())
      return why;
    if (err != SSL_ERROR_WANT_READ)
      return "TLS: " + openssl_reason("write failed");
    if (auto why = fill_tls(); !why.empty())
      return why;
  }
  return flush_tls();
}

size_t redis_socket::read_some(char* buf, size_t size, std::string& error) {
  assert(is_open() && size > 0);
  if (ssl_ == nullptr) {
    while (true) {
      auto n = ::recv(fd_, buf, size, 0);
      if (n > 0)
        return static_cast<size_t>(n);
      if (n < 0 && errno == EINTR)
        continue;
      error = n == 0 ? "the server closed the connection" : io_error(errno);
      return 0;
    }
  }
  while (true) {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf, static_cast<int>(size));
    if (n > 0)
      return static_cast<size_t>(n);
    auto err = SSL_get_error(ssl_, n);
    // Reading may have produced bytes to send (a key update's answer).
    if (error = flush_tls(); !error.empty())
      return 0;
    if (err == SSL_ERROR_WANT_READ) {
      if (error = fill_tls(); !error.empty())
        return 0;
      continue;
    }
    error = err == SSL_ERROR_ZERO_RETURN
              ? "the server closed the connection"
              : "TLS: " + openssl_reason("read failed");
    return 0;
  }
}

} // namespace saga
