#pragma once

// Certificates for TLS tests, made by the `openssl` command in a private
// folder: a certificate authority, a second one that signed nothing here, a
// server certificate for 127.0.0.1 and localhost signed by the first, an
// expired one, and a client certificate. Owns the folder (removed by the
// destructor); immutable after construction, so thread-safe.

#include <string>
#include <vector>

namespace saga::test {

class tls_certs {
public:
  /// Makes the certificates; throws std::runtime_error naming the openssl
  /// step that failed.
  tls_certs();
  ~tls_certs();

  tls_certs(const tls_certs&) = delete;
  tls_certs& operator=(const tls_certs&) = delete;

  /// Returns the path of the file `name` in the folder: ca.crt,
  /// other-ca.crt, server.crt, server.key (also the key of expired.crt),
  /// expired.crt, client.crt, client.key.
  std::string path(const std::string& name) const {
    return dir_ + "/" + name;
  }

  /// Returns redis-server arguments that open a TLS port `tls_port` (beside
  /// the plain one) with the certificate `cert` (server.crt or
  /// expired.crt), asking clients for a certificate signed by the CA if
  /// `client_auth`.
  std::vector<std::string> redis_args(int tls_port, const std::string& cert,
                                      bool client_auth = false) const;

private:
  /// Runs `openssl args...` in the folder; throws if it fails.
  void openssl(std::vector<std::string> args) const;

  std::string dir_;
};

/// Returns the certificates this test program shares (made on first use).
const tls_certs& shared_certs();

} // namespace saga::test
