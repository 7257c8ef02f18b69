// Dispatch round trip over loopback: the coordinator side sends a Batch (Cap'n Proto bytes,
// three tasks) to a worker actor in another process through CAF's middleman; the worker
// decodes it and answers with a TaskProgress ack, which the sender decodes. Reports p50 and
// p99 of 10,000 round trips after 1,000 warm-up ones. No journal write is included (a synced
// write adds the disk's fsync time, see the journal benchmark).
//
//   dispatch_bench
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <fmt/core.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

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

}  // namespace

int main() {
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
    std::sort(us.begin(), us.end());
    fmt::print("dispatch round trip over loopback, Batch of {} bytes, n={}: p50 {:.0f} us, "
               "p90 {:.0f} us, p99 {:.0f} us, max {:.0f} us\n",
               bytes.bytes.size(), us.size(), us[us.size() / 2], us[us.size() * 9 / 10],
               us[us.size() * 99 / 100], us.back());
    self->send_exit(*worker, caf::exit_reason::user_shutdown);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  return 0;
}
