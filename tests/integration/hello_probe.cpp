// hello_probe: says one hello to a br-coordinator, as a worker of any protocol version would,
// or sends bytes that are not a hello at all, and prints the coordinator's answer; then, if
// asked, sends one bad message (a work request, progress report or result) as that worker.
// For tests of what the coordinator refuses; not a worker (it never runs anything).
//
//   hello_probe HOST PORT [--version N] [--token T] [--name NAME] [--slots N] [--garbage]
//               [--no-hello] [--hellos N]
//               [--then work|started|result|untyped --payload garbage|oversized|forged]
//
// --payload forged: a well-formed message (result: a success of p0/01-backend attempt 1) that
// names worker "victim/0" instead of the probe.
//
// Prints "accepted" (exit 0) or "refused: REASON" (exit 2), and "sent KIND" after a message;
// other failures exit 3. --hellos N says the hello N times on the one connection, printing each
// answer (a guesser's loop); the exit code is the last answer's. Messages are one-way: what became of them is in the coordinator's log.
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <fmt/core.h>

#include <chrono>
#include <string>

#include "protocol/actor_messages.hpp"
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
  bool garbage = false, no_hello = false;
  int hellos = 1;
  std::string then, payload_kind = "garbage";
  for (int i = 3; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--garbage") {
      garbage = true;
    } else if (flag == "--no-hello") {
      no_hello = true;
    } else if (i + 1 < argc && flag == "--hellos") {
      hellos = std::stoi(argv[++i]);
    } else if (i + 1 < argc && flag == "--then") {
      then = argv[++i];
    } else if (i + 1 < argc && flag == "--payload") {
      payload_kind = argv[++i];
    } else if (i + 1 < argc && flag == "--version") {
      hello.protocol_version = static_cast<std::uint32_t>(std::stoul(argv[++i]));
    } else if (i + 1 < argc && flag == "--token") {
      hello.token = argv[++i];
    } else if (i + 1 < argc && flag == "--slots") {
      hello.slots = static_cast<std::uint32_t>(std::stoul(argv[++i]));
    } else if (i + 1 < argc && flag == "--name") {
      hello.name = argv[++i];
    } else {
      fmt::print(stderr, "hello_probe: unknown argument '{}'\n", flag);
      return 3;
    }
  }

  caf::actor_system_config config;
  br::add_br_types(config);
  config.load<caf::io::middleman>();
  caf::actor_system system{config};
  auto typed_front = system.middleman().remote_actor<br::FrontActor>(host, port);
  if (!typed_front) {
    fmt::print(stderr, "hello_probe: cannot connect: {}\n", system.render(typed_front.error()));
    return 3;
  }
  // Untyped from here: a buggy or hostile peer is not held to the interface by its compiler.
  const auto front = caf::actor_cast<caf::actor>(*typed_front);
  // Well-formed CAF, but a payload that is not Cap'n Proto: what a buggy or hostile peer sends.
  const br::Encoded<br::WorkerHello> payload{
      garbage ? std::string("\x07\xff\x00 not a hello", 16) : br::encode(hello)};
  int exit_code = 3;
  caf::scoped_actor self{system};
  if (no_hello) {
    exit_code = 0;
  }
  for (int i = 0; i < hellos && !no_hello; ++i) {
    exit_code = 3;
    self->request(front, std::chrono::seconds(10), br::atoms::hello_atom_v, payload, br::KillSwitch{})
        .receive(
            [&](const br::Encoded<br::HelloReply>& bytes) {
              auto reply = bytes.decode();
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
  }
  if (exit_code == 0 && !then.empty()) {
    // Over the size limit, or not Cap'n Proto at all.
    std::string bytes = payload_kind == "oversized" ? std::string(std::size_t{17} << 20, 'x')
                                                    : std::string("\x05\x00 junk", 7);
    if (payload_kind == "forged") {
      br::TaskResult forged;
      forged.task = br::TaskId("p0/01-backend");
      forged.attempt = 1;
      forged.success = true;
      forged.worker = "victim/0";
      br::WorkRequest request{"victim/0", 1};
      br::TaskProgress progress{br::TaskId("p0/01-backend"), 1, br::BatchId("b"), "victim/0", 0};
      bytes = then == "result" ? br::encode(forged)
              : then == "work" ? br::encode(request)
                               : br::encode(progress);
    }
    if (then == "work") {
      self->send(front, br::atoms::work_atom_v, br::Encoded<br::WorkRequest>{bytes});
    } else if (then == "started") {
      self->send(front, br::atoms::started_atom_v, br::Encoded<br::TaskProgress>{bytes});
    } else if (then == "result") {
      self->send(front, br::atoms::result_atom_v, br::Encoded<br::TaskResult>{bytes});
    } else if (then == "untyped") {
      // The message of an older br: raw bytes where the interface takes an Encoded<...>.
      self->send(front, br::atoms::work_atom_v, bytes);
    } else {
      fmt::print(stderr, "hello_probe: unknown message kind '{}'\n", then);
      std::_Exit(3);
    }
    // A second hello as a barrier: the front handles one sender's messages in order, so once
    // it answers, the message above has been dealt with (and its note logged).
    self->request(front, std::chrono::seconds(10), br::atoms::hello_atom_v, payload, br::KillSwitch{})
        .receive([](const br::Encoded<br::HelloReply>&) {}, [](const caf::error&) {});
    fmt::print("sent {}\n", then);
  }
  std::fflush(stdout);
  // As br-worker: CAF 0.17 can keep a process with remote actors from shutting down.
  std::_Exit(exit_code);
}
