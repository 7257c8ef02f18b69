// /metrics for Prometheus, served by prometheus-cpp's exposer on [metrics] listen. This file
// is the only one that knows Prometheus: the run hands it plain numbers (MetricsSample,
// latencies in seconds), and prometheus-cpp's headers stay in metrics.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "coordinator/metrics_tally.hpp"
#include "protocol/result.hpp"

namespace br {

class Metrics {
 public:
  // Serves /metrics on `listen` (HOST:PORT; port 0: any free one). With a `token`, a scrape
  // must send it as the password of HTTP basic auth (any user name): prometheus-cpp 1.0's
  // exposer knows basic auth, not bearer tokens.
  static Result<std::unique_ptr<Metrics>> serve(const std::string& listen,
                                                const std::string& token);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  std::uint16_t port() const;  // the port bound, even when 0 was asked for

  // Gauges take the sample's values; counters grow by what it adds to the last sample (a
  // Prometheus counter only goes up). Safe from any thread, like the observes.
  void set(const MetricsSample& sample);
  void observe_dispatch(double seconds);
  void observe_journal_append(double seconds);

  // The text a scrape gets, without the HTTP: for tests.
  std::string text() const;

 private:
  struct Impl;
  explicit Metrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace br
