#include "actors/scheduler/ready_queue.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <string_view>
#include <utility>

namespace br {

std::vector<ReadyItem> ready_items(const std::vector<const Task*>& tasks,
                                   const std::vector<std::uint32_t>& rank) {
  std::vector<ReadyItem> items(tasks.size());
  std::map<std::pair<Domain, std::string_view>, std::uint32_t> groups;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const Task& t = *tasks[i];
    const auto next = static_cast<std::uint32_t>(groups.size());
    const auto it = groups.emplace(std::make_pair(t.domain, std::string_view(t.feature.str())), next)
                        .first;
    items[i] = ReadyItem{rank[i], it->second, t.minutes, t.domain};
  }
  return items;
}

std::vector<ReadyItem> ready_items(const std::vector<Task>& tasks,
                                   const std::vector<std::uint32_t>& rank) {
  std::vector<const Task*> all;
  all.reserve(tasks.size());
  for (const Task& t : tasks) all.push_back(&t);
  return ready_items(all, rank);
}

std::vector<std::uint32_t> strategy_ranks(Strategy strategy, const DependencyGraph& graph,
                                          const std::vector<Task>& tasks) {
  std::vector<std::size_t> all(tasks.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  const auto ordered = order_ready(all, strategy, graph, tasks);
  std::vector<std::uint32_t> rank(tasks.size());
  for (std::size_t k = 0; k < ordered.size(); ++k) rank[ordered[k]] = static_cast<std::uint32_t>(k);
  return rank;
}

ReadyQueue::ReadyQueue(std::vector<ReadyItem> items)
    : items_(std::move(items)),
      task_of_rank_(items_.size()),
      where_(items_.size(), Where::none),
      by_domain_(kDomains) {
  std::uint32_t groups = 0;
  min_minutes_ = items_.empty() ? 0 : items_[0].minutes;
  for (std::size_t i = 0; i < items_.size(); ++i) {
    task_of_rank_[items_[i].rank] = static_cast<std::uint32_t>(i);
    groups = std::max(groups, items_[i].group + 1);
    min_minutes_ = std::min(min_minutes_, items_[i].minutes);
  }
  by_group_.resize(groups);
}

void ReadyQueue::push(std::size_t i, bool alone) {
  if (i >= items_.size() || where_[i] != Where::none) return;
  const ReadyItem& item = items_[i];
  if (alone) {
    alone_.insert(item.rank);
    where_[i] = Where::alone;
  } else {
    by_domain_[static_cast<std::size_t>(item.domain)].insert(item.rank);
    by_group_[item.group].insert(item.rank);
    where_[i] = Where::shared;
  }
  ++size_;
}

bool ReadyQueue::erase(std::size_t i) {
  if (!contains(i)) return false;
  remove(i);
  return true;
}

void ReadyQueue::remove(std::size_t i) {
  const ReadyItem& item = items_[i];
  if (where_[i] == Where::alone) {
    alone_.erase(item.rank);
  } else {
    by_domain_[static_cast<std::size_t>(item.domain)].erase(item.rank);
    by_group_[item.group].erase(item.rank);
  }
  where_[i] = Where::none;
  --size_;
}

template <typename Skip>
void ReadyQueue::add_partners(const std::set<std::uint32_t>& candidates,
                              std::vector<std::size_t>& batch, std::uint32_t& minutes,
                              const BatchLimits& limits, std::size_t max_tasks, Skip skip) {
  std::size_t rejected = 0;
  for (auto it = candidates.begin();
       it != candidates.end() && batch.size() < max_tasks && rejected < kMaxPartnerScan;) {
    const std::size_t task = task_of_rank_[*it];
    ++it;  // before remove(), which erases the current node
    if (limits.max_minutes < minutes + min_minutes_) return;  // nothing more can fit
    if (skip(task) || minutes + items_[task].minutes > limits.max_minutes) {
      ++rejected;
      continue;
    }
    remove(task);
    batch.push_back(task);
    minutes += items_[task].minutes;
  }
}

std::vector<std::size_t> ReadyQueue::pop_batch(const BatchLimits& limits) {
  // The lead: the best head among the domains and the tasks that go alone (a few compares).
  std::uint32_t best = 0;
  bool found = false;
  const auto consider = [&](const std::set<std::uint32_t>& s) {
    if (!s.empty() && (!found || *s.begin() < best)) {
      best = *s.begin();
      found = true;
    }
  };
  for (const auto& domain : by_domain_) consider(domain);
  consider(alone_);
  if (!found) return {};
  const std::size_t lead = task_of_rank_[best];
  const bool alone = where_[lead] == Where::alone;
  remove(lead);
  std::vector<std::size_t> batch = {lead};
  if (alone) return batch;
  const std::size_t max_tasks = std::max<std::size_t>(1, limits.max_tasks);
  std::uint32_t minutes = items_[lead].minutes;
  const ReadyItem& first = items_[lead];
  add_partners(by_group_[first.group], batch, minutes, limits, max_tasks,
               [](std::size_t) { return false; });
  // Same-feature tasks still queued did not fit just now; the second pass passes over them.
  add_partners(by_domain_[static_cast<std::size_t>(first.domain)], batch, minutes, limits,
               max_tasks, [&](std::size_t t) { return items_[t].group == first.group; });
  return batch;
}

}  // namespace br
