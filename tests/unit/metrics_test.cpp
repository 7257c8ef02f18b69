#include <catch2/catch.hpp>
#include <string>

#include "coordinator/metrics.hpp"
#include "coordinator/metrics_tally.hpp"
#include "tests/support/samples.hpp"

using namespace br;

namespace {

const TaskId a("a/01"), b("a/02");

// A run fed record by record, as the listener sees it: applied, then tallied.
struct Run {
  RunState state;
  std::uint64_t seq = 0;
  std::vector<double> waits;

  void must(RecordBody body, MetricsTally* tally = nullptr) {
    JournalRecord r{++seq, "run-1", static_cast<std::int64_t>(seq * 1000), std::move(body)};
    auto status = state.apply(r);
    INFO((status.ok() ? std::string() : status.error().str()));
    REQUIRE(status.ok());
    if (tally) {
      for (double w : tally->add({r}, state)) waits.push_back(w);
    }
  }
};

Plan two_tasks() {
  Plan p;
  p.title = "P";
  p.tasks = {test::sample_task("a/01"), test::sample_task("a/02")};
  p.tasks[0].depends_on.clear();
  p.tasks[1].depends_on.clear();
  return p;
}

Usage spent(std::uint64_t in, std::uint64_t out, std::uint64_t micro_usd) {
  Usage u;
  u.known = true;
  u.cost_known = true;
  u.tokens_in = in;
  u.tokens_out = out;
  u.cost_micro_usd = micro_usd;
  return u;
}

}  // namespace

TEST_CASE("the tally counts attempts, retries, usage and how long tasks waited for dispatch") {
  Run run;
  run.must(rec::PlanCreated{two_tasks(), "spec.md", "h"});
  MetricsTally tally(run.state);
  run.must(rec::WorkerJoined{"w1", 1, "10.0.0.2"}, &tally);
  run.must(rec::TaskReady{a}, &tally);                                 // t = 3 s
  run.must(rec::TaskReady{b}, &tally);
  run.must(rec::BatchDispatched{BatchId("b1"), "w1", {a}, {1}, 99000}, &tally);  // t = 5 s
  run.must(rec::TaskFailed{a, 1, "check failed", spent(100, 20, 1500)}, &tally);
  run.must(rec::TaskRetrying{a, 2, 0}, &tally);
  run.must(rec::TaskReady{a}, &tally);  // t = 8 s
  run.must(rec::BatchDispatched{BatchId("b2"), "w1", {a}, {2}, 99000}, &tally);  // t = 9 s
  run.must(rec::TaskSucceeded{a, 2, "w1", {"x.py"}, "", "", spent(50, 5, 500)}, &tally);

  CHECK(run.waits == std::vector<double>{2.0, 1.0});
  MetricsSample s = tally.sample(run.state);
  CHECK(s.tasks.succeeded == 1);
  CHECK(s.tasks.ready == 1);
  CHECK(s.ready_queue == 1);
  CHECK(s.attempts == 2);
  CHECK(s.retries == 1);
  CHECK(s.workers_connected == 1);
  CHECK(s.usage.tokens_in == 150);
  CHECK(s.usage.tokens_out == 25);
  CHECK(s.usage.cost_micro_usd == 2000);

  SECTION("a tally made from the journal so far (a resume) starts where the records left it") {
    MetricsTally resumed(run.state);
    const MetricsSample r = resumed.sample(run.state);
    CHECK(r.attempts == 2);
    CHECK(r.retries == 1);
    CHECK(r.usage.cost_micro_usd == 2000);
  }
}

TEST_CASE("metrics are served on a free port and show the sample, counters only growing") {
  auto served = Metrics::serve("127.0.0.1:0", "");
  REQUIRE(served.ok());
  auto& metrics = *served.value();
  CHECK(metrics.port() != 0);

  MetricsSample s;
  s.tasks.succeeded = 3;
  s.tasks.pending = 1;
  s.attempts = 5;
  s.retries = 1;
  s.usage.tokens_out = 42;
  s.usage.cost_micro_usd = 250000;
  metrics.set(s);
  metrics.set(s);  // the same numbers again add nothing
  metrics.observe_dispatch(0.003);
  metrics.observe_journal_append(0.0007);
  const std::string text = metrics.text();
  INFO(text);
  CHECK(text.find("br_tasks{status=\"succeeded\"} 3") != std::string::npos);
  CHECK(text.find("br_tasks{status=\"pending\"} 1") != std::string::npos);
  CHECK(text.find("br_attempts_total 5") != std::string::npos);
  CHECK(text.find("br_retries_total 1") != std::string::npos);
  CHECK(text.find("br_tokens_total{kind=\"output\"} 42") != std::string::npos);
  CHECK(text.find("br_cost_usd_total 0.25") != std::string::npos);
  CHECK(text.find("br_dispatch_latency_seconds_count 1") != std::string::npos);
  CHECK(text.find("br_journal_append_seconds_count 1") != std::string::npos);
  CHECK(text.find("br_run_over 0") != std::string::npos);
  CHECK(text.find("# HELP br_tasks Tasks of the run by status") != std::string::npos);
}

TEST_CASE("a port already taken is an error that says what to do") {
  auto first = Metrics::serve("127.0.0.1:0", "");
  REQUIRE(first.ok());
  const std::string taken = "127.0.0.1:" + std::to_string(first.value()->port());
  auto second = Metrics::serve(taken, "");
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().str().find("[metrics] listen " + taken + ": cannot serve /metrics") == 0);
}
