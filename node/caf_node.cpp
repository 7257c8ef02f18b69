#include "node/caf_node.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <chrono>
#include <string>

#include "protocol/actor_messages.hpp"

namespace br {

void configure_caf_node(caf::actor_system_config& config, const CafNodeOptions& options) {
  add_br_types(config);
  config.set("scheduler.max-threads", 2);
  // br's actors mostly wait for one another; the sharing scheduler wakes a waiting thread at
  // once, where work stealing polls and sleeps (dispatch round trip p50 310 → 175 µs).
  config.set("scheduler.policy", caf::atom("sharing"));
  if (!options.network) return;
  config.load<caf::io::middleman>();
  // Messages from other hosts are deserialized on the middleman's own thread rather than handed
  // to a BASP worker thread first: one thread hop less per message (dispatch round trip p50
  // 214 → 185 µs on 2 vCPUs, BENCHMARKS.md). Pool threads only pay off with cores to spare.
  config.set("middleman.workers", 0);
  // Heartbeats both ways, so either side drops a peer that went silent (cut off, not closed)
  // within 3 s.
  config.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(500)});
  config.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(2)});
  if (options.tls != nullptr) {
    config.load<caf::openssl::manager>();
    config.openssl_certificate = options.tls->tls_cert;
    config.openssl_key = options.tls->tls_key;
    config.openssl_cafile = options.tls->tls_ca;
  }
}

std::string network_error_words(const caf::error& error) {
  std::string attached;  // br's probes attach their reason as the error's text
  const caf::message& context = error.context();
  for (std::size_t i = 0; i < context.size() && attached.empty(); ++i) {
    if (context.match_element<std::string>(i)) attached = context.get_as<std::string>(i);
  }
  if (error.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(error.code())) {
      case caf::sec::cannot_connect_to_node:
        return attached.empty() ? "nothing accepted the connection" : attached;
      case caf::sec::connection_timeout:
      case caf::sec::request_timeout:
        return "it did not answer in time";
      case caf::sec::cannot_open_port:
        return "the port cannot be opened (another program holds it, or it is below 1024)";
      case caf::sec::no_actor_published_at_port:
      case caf::sec::unexpected_actor_messaging_interface:
      case caf::sec::incompatible_versions:
      case caf::sec::incompatible_application_ids:
      case caf::sec::malformed_basp_message:
      case caf::sec::unexpected_response:
        return "what answered is not a br-coordinator of this version (another program, "
               "another br version, or TLS on one side only)";
      case caf::sec::disconnect_during_handshake:
      case caf::sec::socket_disconnected:
        return "the connection was closed during its handshake (TLS on one side only, or a "
               "certificate the other side refused)";
      default:
        break;
    }
  } else if (error.category() == caf::atom("exit")) {
    switch (static_cast<caf::exit_reason>(error.code())) {
      case caf::exit_reason::remote_link_unreachable:
      case caf::exit_reason::unreachable:
        return "the connection was closed (the coordinator stopped, or the network between "
               "the hosts failed)";
      case caf::exit_reason::normal:
      case caf::exit_reason::user_shutdown:
        return "the coordinator closed the connection";
      default:
        break;
    }
  }
  if (!attached.empty()) return attached;
  return "the connection failed (" + caf::to_string(error) + ")";
}

}  // namespace br
