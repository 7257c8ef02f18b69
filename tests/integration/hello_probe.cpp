// hello_probe: says one hello to a br-coordinator, as a worker of any protocol version would,
// or sends bytes that are not a hello at all, and prints the coordinator's answer. For tests
// of what the coordinator refuses; not a worker (it never asks for work).
//
//   hello_probe HOST PORT (--version N --token T --name NAME | --garbage)
//
// Prints "accepted" (exit 0) or "refused: REASON" (exit 2); other failures exit 3.
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <fmt/core.h>

#include <chrono>
#include <string>

#include "protocol/actor_messages.hpp"
#include "protocol/codec.hpp"
#include "protocol/model.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    fmt::print(stderr, "usage: hello_probe HOST PORT (--version N --token T --name NAME | "
                       "--garbage)\n");
    return 3;
  }
  const std::string host = argv[1];
  const auto port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  br::WorkerHello hello{"probe", 1, br::kProtocolVersion, "", {}, {}};
  bool garbage = false;
  for (int i = 3; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--garbage") {
      garbage = true;
    } else if (i + 1 < argc && flag == "--version") {
      hello.protocol_version = static_cast<std::uint32_t>(std::stoul(argv[++i]));
    } else if (i + 1 < argc && flag == "--token") {
      hello.token = argv[++i];
    } else if (i + 1 < argc && flag == "--name") {
      hello.name = argv[++i];
    } else {
      fmt::print(stderr, "hello_probe: unknown argument '{}'\n", flag);
      return 3;
    }
  }

  caf::actor_system_config config;
  config.load<caf::io::middleman>();
  caf::actor_system system{config};
  auto front = system.middleman().remote_actor(host, port);
  if (!front) {
    fmt::print(stderr, "hello_probe: cannot connect: {}\n", system.render(front.error()));
    return 3;
  }
  // Well-formed CAF, but a payload that is not Cap'n Proto: what a buggy or hostile peer sends.
  const std::string payload = garbage ? std::string("\x07\xff\x00 not a hello", 16) : br::encode(hello);
  int exit_code = 3;
  caf::scoped_actor self{system};
  self->request(*front, std::chrono::seconds(10), br::atoms::hello_atom_v, payload)
      .receive(
          [&](const std::string& bytes) {
            auto reply = br::decode<br::HelloReply>(bytes);
            if (!reply) {
              fmt::print("unreadable reply: {}\n", reply.error().str());
            } else if (reply->accepted) {
              fmt::print("accepted\n");
              exit_code = 0;
            } else {
              fmt::print("refused: {}\n", reply->reason);
              exit_code = 2;
            }
          },
          [&](const caf::error& error) {
            fmt::print(stderr, "hello_probe: no answer: {}\n", system.render(error));
          });
  std::fflush(stdout);
  // As br-worker: CAF 0.17 can keep a process with remote actors from shutting down.
  std::_Exit(exit_code);
}
