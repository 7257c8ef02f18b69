// How a br node (br, br-coordinator, br-worker) takes its place on the network, from [network]
// and BR_TOKEN: checked by one set of rules in every binary. CAF-free; node/caf_node.hpp turns
// the outcome into an actor system's configuration.
#pragma once

#include <string>

#include "protocol/config.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/result.hpp"

namespace br {

enum class NodeRole : std::uint8_t { coordinator, worker };

// BR_TOKEN (`env_token`, null or empty when unset) replaces [network] token; one shorter than
// kMinTokenLength is refused, as it is in br.toml.
Status take_env_token(NetworkConfig& network, const char* env_token);

// Whether the node talks TLS: tls_cert and tls_key are set both or neither, and a worker's
// tls_peer_name needs a CA to check the name against. `where` names the config in errors.
Result<bool> tls_enabled(const NetworkConfig& network, NodeRole role, const std::string& where);

// Whether this host could listen on `at` now: a socket bound there (as the coordinator's
// will be, with SO_REUSEADDR) and closed at once. Checked before a run creates its journal, so
// that a port another program holds is an error with nothing left behind; a program that
// takes the port in between is still reported when the run listens.
Status check_can_listen(const Endpoint& at);

}  // namespace br
