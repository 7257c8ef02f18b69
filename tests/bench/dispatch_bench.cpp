// Dispatch round trip over loopback: the coordinator side sends a Batch (Cap'n Proto bytes,
// three tasks) to a worker actor in another process through CAF's middleman; the worker
// decodes it and answers with a TaskProgress ack, which the sender decodes. Reports p50 and
// p99 of 10,000 round trips after 1,000 warm-up ones. No journal write is included (a synced
// write adds the disk's fsync time, see the journal benchmark).
//
// First, the floor on this machine: the same bytes each way between two processes over a
// plain loopback TCP socket with blocking reads (two thread wake-ups per round trip, where
// CAF's middleman has six: sender → BASP broker → socket → remote multiplexer → actor, and
// back the same way).
//
//   dispatch_bench
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <fmt/core.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocol/actor_messages.hpp"

using namespace br;
using namespace br::atoms;
using Clock = std::chrono::steady_clock;

namespace {

Batch sample_batch() {
  Batch b;
  b.id = BatchId("b1795494052412-14");
  b.domain = Domain::backend;
  b.project = std::string(2000, 'p');
  for (int i = 0; i < 3; ++i) {
    Task t;
    t.id = TaskId("feature-" + std::to_string(i) + "/02-backend");
    t.title = "A task title of typical length";
    t.description = std::string(600, 'd');
    t.acceptance = criteria_of({"The thing works", "file: src/x.py"});
    t.files = {"src/x.py"};
    b.tasks.push_back(BatchTask{t, 1});
  }
  return b;
}

caf::behavior echo_worker(caf::event_based_actor*) {
  return {[](batch_atom, const Encoded<Batch>& bytes) -> Encoded<TaskProgress> {
    auto batch = bytes.decode();
    TaskProgress ack;
    if (batch) ack = TaskProgress{batch->tasks[0].task.id, 1, batch->id, "w", 0};
    return Encoded<TaskProgress>::of(ack);
  }};
}

void transfer(int fd, char* bytes, std::size_t n, bool reading) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t k = reading ? ::read(fd, bytes + done, n - done)
                              : ::write(fd, bytes + done, n - done);
    if (k <= 0) throw std::runtime_error("raw socket round trip failed");
    done += static_cast<std::size_t>(k);
  }
}

std::string percentiles(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  return fmt::format("n={}: p50 {:.0f} us, p90 {:.0f} us, p99 {:.0f} us, max {:.0f} us", us.size(),
                     us[us.size() / 2], us[us.size() * 9 / 10], us[us.size() * 99 / 100],
                     us.back());
}

// Round trips of `request` bytes out and `reply` bytes back over loopback TCP (TCP_NODELAY),
// the echoing side a child process; p50 in microseconds.
double raw_round_trip(std::size_t request, std::size_t reply) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  const int one = 1;
  const pid_t echo = ::fork();
  if (echo == 0) {
    const int c = ::accept(listener, nullptr, nullptr);
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::vector<char> bytes(std::max(request, reply));
    try {
      for (;;) {
        transfer(c, bytes.data(), request, true);
        transfer(c, bytes.data(), reply, false);
      }
    } catch (...) {
      ::_exit(0);  // the parent closed its end
    }
  }
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("cannot connect to 127.0.0.1");
  }
  ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<char> bytes(std::max(request, reply));
  std::vector<double> us;
  for (int i = 0; i < 11000; ++i) {
    const auto start = Clock::now();
    transfer(s, bytes.data(), request, false);
    transfer(s, bytes.data(), reply, true);
    if (i >= 1000) {
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  ::close(s);
  ::close(listener);
  ::waitpid(echo, nullptr, 0);
  fmt::print("raw TCP round trip over loopback, {} bytes out and {} back, {}\n", request, reply,
             percentiles(us));
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

}  // namespace

int main() {
  // The floor first, with the sizes CAF's round trip carries (without its framing).
  const std::size_t request = Encoded<Batch>::of(sample_batch()).bytes.size();
  const std::size_t reply =
      Encoded<TaskProgress>::of(TaskProgress{TaskId("feature-0/02-backend"), 1,
                                             BatchId("b1795494052412-14"), "w", 0})
          .bytes.size();
  double raw_p50 = 0;
  try {
    raw_p50 = raw_round_trip(request, reply);
  } catch (const std::exception& e) {
    fmt::print(stderr, "dispatch_bench: {}\n", e.what());
    return 1;
  }
  int fds[2];
  if (::pipe(fds) != 0) return 1;
  const pid_t child = ::fork();
  if (child == 0) {
    caf::actor_system_config config;
    add_br_types(config);
    config.load<caf::io::middleman>();
    config.set("scheduler.max-threads", 2);
    config.set("scheduler.policy", caf::atom("sharing"));  // as br and br-worker do
    config.set("middleman.workers", 0);                    // as br and br-worker do
    caf::actor_system system{config};
    auto worker = system.spawn(echo_worker);
    auto port = system.middleman().publish(worker, 0, "127.0.0.1");
    const std::uint16_t p = port ? *port : 0;
    if (::write(fds[1], &p, sizeof p) != sizeof p) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  std::uint16_t port = 0;
  if (::read(fds[0], &port, sizeof port) != sizeof port || port == 0) return 1;
  {
    caf::actor_system_config config;
    add_br_types(config);
    config.load<caf::io::middleman>();
    config.set("scheduler.max-threads", 2);
    config.set("scheduler.policy", caf::atom("sharing"));  // as br and br-worker do
    config.set("middleman.workers", 0);                    // as br and br-worker do
    caf::actor_system system{config};
    auto worker = system.middleman().remote_actor("127.0.0.1", port);
    if (!worker) return 1;
    caf::scoped_actor self{system};
    const auto bytes = Encoded<Batch>::of(sample_batch());
    std::vector<double> us;
    for (int i = 0; i < 11000; ++i) {
      const auto start = Clock::now();
      self->request(*worker, std::chrono::seconds(5), batch_atom_v, bytes)
          .receive([&](const Encoded<TaskProgress>& ack) { (void)ack.decode(); },
                   [&](caf::error&) { us.push_back(1e9); });
      if (i >= 1000) {
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      }
    }
    fmt::print("dispatch round trip over loopback, Batch of {} bytes, {}\n", bytes.bytes.size(),
               percentiles(us));
    std::sort(us.begin(), us.end());
    fmt::print("CAF's round trip / the raw socket's, p50: {:.2f}x\n", us[us.size() / 2] / raw_p50);
    self->send_exit(*worker, caf::exit_reason::user_shutdown);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return 0;
}
