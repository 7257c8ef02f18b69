#include "coordinator/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <mutex>

#include "coordinator/worker_admission.hpp"

namespace br {
namespace {

namespace pc = prometheus;

// Seconds, from a millisecond to ten minutes: the journal's group commit takes about a
// millisecond, a task on a busy run can wait for a slot for minutes.
const pc::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1,      2.5,   5,      10,    30,   60,    120,  300, 600};

}  // namespace

struct Metrics::Impl {
  // The registry outlives the exposer, which holds only a weak pointer to it.
  std::shared_ptr<pc::Registry> registry = std::make_shared<pc::Registry>();
  std::unique_ptr<pc::Exposer> exposer;

  pc::Family<pc::Gauge>& tasks_family = pc::BuildGauge()
                                            .Name("br_tasks")
                                            .Help("Tasks of the run by status")
                                            .Register(*registry);
  pc::Gauge& pending = tasks_family.Add({{"status", "pending"}});
  pc::Gauge& ready = tasks_family.Add({{"status", "ready"}});
  pc::Gauge& dispatched = tasks_family.Add({{"status", "dispatched"}});
  pc::Gauge& running = tasks_family.Add({{"status", "running"}});
  pc::Gauge& succeeded = tasks_family.Add({{"status", "succeeded"}});
  pc::Gauge& failed = tasks_family.Add({{"status", "failed"}});
  pc::Gauge& retrying = tasks_family.Add({{"status", "retrying"}});
  pc::Gauge& blocked = tasks_family.Add({{"status", "blocked"}});
  pc::Gauge& cancelled = tasks_family.Add({{"status", "cancelled"}});

  pc::Counter& attempts = pc::BuildCounter()
                              .Name("br_attempts_total")
                              .Help("Attempts dispatched to workers, retries included")
                              .Register(*registry)
                              .Add({});
  pc::Counter& retries = pc::BuildCounter()
                             .Name("br_retries_total")
                             .Help("Attempts after a task's first")
                             .Register(*registry)
                             .Add({});
  pc::Gauge& ready_queue = pc::BuildGauge()
                               .Name("br_ready_queue_depth")
                               .Help("Tasks ready and waiting for a worker slot")
                               .Register(*registry)
                               .Add({});
  pc::Gauge& workers = pc::BuildGauge()
                           .Name("br_workers_connected")
                           .Help("Workers alive in the run, the coordinator's own slots included")
                           .Register(*registry)
                           .Add({});
  pc::Histogram& dispatch = pc::BuildHistogram()
                                .Name("br_dispatch_latency_seconds")
                                .Help("Time from a task becoming ready to its dispatch")
                                .Register(*registry)
                                .Add({}, kLatencyBuckets);
  pc::Histogram& journal_append = pc::BuildHistogram()
                                      .Name("br_journal_append_seconds")
                                      .Help("Time for a group of records to become durable")
                                      .Register(*registry)
                                      .Add({}, kLatencyBuckets);
  pc::Family<pc::Counter>& tokens_family = pc::BuildCounter()
                                               .Name("br_tokens_total")
                                               .Help("Tokens the agents reported, by kind")
                                               .Register(*registry);
  pc::Counter& tokens_in = tokens_family.Add({{"kind", "input"}});
  pc::Counter& tokens_out = tokens_family.Add({{"kind", "output"}});
  pc::Counter& tokens_cache_write = tokens_family.Add({{"kind", "cache_write"}});
  pc::Counter& tokens_cache_read = tokens_family.Add({{"kind", "cache_read"}});
  pc::Counter& cost = pc::BuildCounter()
                          .Name("br_cost_usd_total")
                          .Help("US dollars the agents reported")
                          .Register(*registry)
                          .Add({});
  pc::Gauge& run_over = pc::BuildGauge()
                            .Name("br_run_over")
                            .Help("1 once the run has ended: the numbers are final")
                            .Register(*registry)
                            .Add({});

  std::mutex mutex;  // guards `last`
  MetricsSample last;
};

Result<std::unique_ptr<Metrics>> Metrics::serve(const std::string& listen,
                                                const std::string& token) {
  auto impl = std::make_unique<Impl>();
  try {
    // One thread: Prometheus scrapes every few seconds, a connection at a time.
    impl->exposer = std::make_unique<pc::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return Error::of("[metrics] listen " + listen + ": cannot serve /metrics: " + e.what() +
                     "; is the port in use? Set another, or \"HOST:0\" for any free one");
  }
  if (!token.empty()) {
    impl->exposer->RegisterAuth(
        [token](const std::string& /*user*/, const std::string& password) {
          return constant_time_equal(password, token);
        },
        "br");
  }
  impl->exposer->RegisterCollectable(impl->registry);
  return std::unique_ptr<Metrics>(new Metrics(std::move(impl)));
}

Metrics::Metrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Metrics::~Metrics() = default;

std::uint16_t Metrics::port() const {
  const auto ports = impl_->exposer->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

void Metrics::set(const MetricsSample& s) {
  Impl& m = *impl_;
  const auto grow = [](pc::Counter& counter, std::uint64_t now, std::uint64_t before) {
    if (now > before) counter.Increment(static_cast<double>(now - before));
  };
  const std::lock_guard<std::mutex> lock(m.mutex);
  m.pending.Set(static_cast<double>(s.tasks.pending));
  m.ready.Set(static_cast<double>(s.tasks.ready));
  m.dispatched.Set(static_cast<double>(s.tasks.dispatched));
  m.running.Set(static_cast<double>(s.tasks.running));
  m.succeeded.Set(static_cast<double>(s.tasks.succeeded));
  m.failed.Set(static_cast<double>(s.tasks.failed));
  m.retrying.Set(static_cast<double>(s.tasks.retrying));
  m.blocked.Set(static_cast<double>(s.tasks.blocked));
  m.cancelled.Set(static_cast<double>(s.tasks.cancelled));
  m.ready_queue.Set(static_cast<double>(s.ready_queue));
  m.workers.Set(static_cast<double>(s.workers_connected));
  m.run_over.Set(s.run_over ? 1 : 0);
  grow(m.attempts, s.attempts, m.last.attempts);
  grow(m.retries, s.retries, m.last.retries);
  grow(m.tokens_in, s.usage.tokens_in, m.last.usage.tokens_in);
  grow(m.tokens_out, s.usage.tokens_out, m.last.usage.tokens_out);
  grow(m.tokens_cache_write, s.usage.cache_write_tokens, m.last.usage.cache_write_tokens);
  grow(m.tokens_cache_read, s.usage.cache_read_tokens, m.last.usage.cache_read_tokens);
  if (s.usage.cost_micro_usd > m.last.usage.cost_micro_usd) {
    m.cost.Increment(static_cast<double>(s.usage.cost_micro_usd - m.last.usage.cost_micro_usd) /
                     1e6);
  }
  m.last = s;
}

void Metrics::observe_dispatch(double seconds) { impl_->dispatch.Observe(seconds); }

void Metrics::observe_journal_append(double seconds) { impl_->journal_append.Observe(seconds); }

std::string Metrics::text() const {
  return pc::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace br
