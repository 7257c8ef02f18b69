// The CAF configuration every br process runs with: br's message types, the scheduler, and for
// a node that talks to other hosts the middleman (optionally over TLS). The one place these
// settings are chosen, so the coordinator and br-worker cannot drift apart.
#pragma once

#include <string>

#include "protocol/config.hpp"

namespace caf {
class actor_system_config;
class error;
}

namespace br {

struct CafNodeOptions {
  bool network = false;  // load the middleman: this process serves or connects to other hosts
  // With `network`: TLS with [network] tls_cert, tls_key and tls_ca of this config (see
  // tls_enabled in node/network_setup.hpp); null: plain TCP.
  const NetworkConfig* tls = nullptr;
};

void configure_caf_node(caf::actor_system_config& config, const CafNodeOptions& options);

// What a failed connect, a refused port or a lost connection means, as words for a sentence
// ("nothing accepted the connection", "the connection was closed"), where CAF's own text is
// "system_error(cannot_connect_to_node, ...)". A reason br attached (a probe's) is kept.
std::string network_error_words(const caf::error& error);

}  // namespace br
