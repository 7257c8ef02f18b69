#include "worker/tls_probe.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <unistd.h>

#include <memory>

namespace br {
namespace {

struct CtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// OpenSSL's last error as text (and its queue emptied), or `fallback`.
std::string openssl_error(const std::string& fallback) {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    out = text;  // the last is the most specific
  }
  return out.empty() ? fallback : out;
}

}  // namespace

ProbeResult probe_tls(const std::string& host, std::uint16_t port,
                      std::chrono::milliseconds timeout, const TlsFiles& files,
                      const std::string& peer_name) {
  ERR_clear_error();
  const std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return {false, openssl_error("cannot make a TLS context")};
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return {false, "cannot load " + files.cert + " / " + files.key + ": " +
                       openssl_error("unreadable")};
  }
  if (!files.ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1) {
      return {false, "cannot load the CA " + files.ca + ": " + openssl_error("unreadable")};
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  }
  ProbeResult result;
  const int fd = connect_tcp(host, port, timeout, result);
  if (fd < 0) return result;
  const std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    ::close(fd);
    return {false, openssl_error("cannot start a TLS session")};
  }
  if (!peer_name.empty()) {
    (void)SSL_set_tlsext_host_name(ssl.get(), peer_name.c_str());
    SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    (void)SSL_set1_host(ssl.get(), peer_name.c_str());
  }
  // The socket is non-blocking: the handshake is driven here, bounded by `timeout`.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  result = {false, "the TLS handshake took longer than " + std::to_string(timeout.count()) + " ms"};
  for (;;) {
    const int rc = SSL_connect(ssl.get());
    if (rc == 1) {
      result = {true, ""};
      (void)SSL_shutdown(ssl.get());
      break;
    }
    const int wants = SSL_get_error(ssl.get(), rc);
    if (wants == SSL_ERROR_WANT_READ || wants == SSL_ERROR_WANT_WRITE) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;  // `result` says it took too long
      pollfd p{fd, static_cast<short>(wants == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      (void)::poll(&p, 1, static_cast<int>(left.count()));
      continue;
    }
    const long verified = SSL_get_verify_result(ssl.get());
    if (verified != X509_V_OK) {
      result.why = std::string("the coordinator's certificate was not accepted: ") +
                   X509_verify_cert_error_string(verified) +
                   (verified == X509_V_ERR_HOSTNAME_MISMATCH
                        ? " (it is not for " + peer_name + ", network.tls_peer_name)"
                        : std::string());
    } else {
      result.why = "the TLS handshake failed: " +
                   openssl_error("the coordinator closed the connection (does it use TLS, and "
                                 "accept this host's certificate?)");
    }
    break;
  }
  ::close(fd);
  return result;
}

}  // namespace br
