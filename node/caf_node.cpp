#include "node/caf_node.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <chrono>

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

}  // namespace br
