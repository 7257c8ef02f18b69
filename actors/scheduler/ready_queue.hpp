// ReadyQueue: the ready tasks, kept ordered by strategy and grouped by domain and feature, so
// that the next batch is formed from the heads of a few ordered sets instead of from a sorted
// copy of everything ready. Pushing, erasing and forming a batch cost O(log n) each (plus a
// bounded scan for partners), whatever the number of ready tasks: a run of 400,000 tasks pays
// per transition what a run of 200 pays.
//
// A batch follows the rules of batch_optimizer.hpp: the best-ranked task leads; partners come
// from its domain, same feature first, then other features, in rank order, within max_tasks
// and max_minutes; a task pushed `alone` (a retry) goes by itself and is never a partner.
// One difference, for the cost bound: each pass looks at no more than kMaxPartnerScan
// candidates that do not fit the remaining minutes before it gives up on that pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

#include "actors/graph/dependency_graph.hpp"
#include "actors/scheduler/batch_optimizer.hpp"
#include "actors/scheduler/strategy.hpp"
#include "protocol/model.hpp"

namespace br {

// What the queue needs to know of one task.
struct ReadyItem {
  std::uint32_t rank = 0;     // position in the strategy's order; unique, smaller is better
  std::uint32_t group = 0;    // dense id of the task's (domain, feature) pair
  std::uint32_t minutes = 0;
  Domain domain = Domain::backend;
};

// items[i] describes task i: ranks from strategy_ranks, groups by (domain, feature).
std::vector<ReadyItem> ready_items(const std::vector<Task>& tasks,
                                   const std::vector<std::uint32_t>& rank);
// The same for a subset of tasks: items[i] describes *tasks[i].
std::vector<ReadyItem> ready_items(const std::vector<const Task*>& tasks,
                                   const std::vector<std::uint32_t>& rank);

// rank[i] = the position of task i when every task of the plan is ordered by `strategy`
// (order_ready's total order). Computed once per run: later comparisons are of integers.
std::vector<std::uint32_t> strategy_ranks(Strategy strategy, const DependencyGraph& graph,
                                          const std::vector<Task>& tasks);

class ReadyQueue {
 public:
  static constexpr std::size_t kMaxPartnerScan = 64;

  explicit ReadyQueue(std::vector<ReadyItem> items);

  // Adds task i (no effect if it is queued already). `alone` batches it by itself.
  void push(std::size_t i, bool alone = false);
  // Removes task i; false if it was not queued.
  bool erase(std::size_t i);
  bool contains(std::size_t i) const { return i < where_.size() && where_[i] != Where::none; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Forms the next batch and takes its tasks out of the queue; empty when the queue is.
  std::vector<std::size_t> pop_batch(const BatchLimits& limits);

 private:
  enum class Where : std::uint8_t { none, shared, alone };
  static constexpr std::size_t kDomains = 7;  // values of Domain

  void remove(std::size_t i);
  // Adds partners from `candidates` (rank order) to `batch`, skipping those `skip` rejects.
  template <typename Skip>
  void add_partners(const std::set<std::uint32_t>& candidates, std::vector<std::size_t>& batch,
                    std::uint32_t& minutes, const BatchLimits& limits, std::size_t max_tasks,
                    Skip skip);

  std::vector<ReadyItem> items_;
  std::vector<std::uint32_t> task_of_rank_;
  std::vector<Where> where_;
  std::vector<std::set<std::uint32_t>> by_domain_;  // ranks of shared tasks, per domain
  std::vector<std::set<std::uint32_t>> by_group_;   // ranks of shared tasks, per group
  std::set<std::uint32_t> alone_;                   // ranks of tasks that go alone
  std::uint32_t min_minutes_ = 0;                   // smallest task: below it nothing fits
  std::size_t size_ = 0;
};

}  // namespace br
