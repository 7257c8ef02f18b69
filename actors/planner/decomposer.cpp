#include "actors/planner/decomposer.hpp"

#include <algorithm>
#include <array>
#include <future>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "actors/planner/domain_keywords.hpp"
#include "actors/planner/id_index.hpp"
#include "protocol/acceptance_criterion.hpp"
#include "protocol/name_matching.hpp"

namespace br {
namespace {


bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Which domain an expected file belongs to, by its path.
Domain path_domain(const std::string& raw) {
  const std::string p = ascii_lower(raw);
  const std::string name = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
  if (contains(p, "tests/") || contains(p, "test/") || name.rfind("test_", 0) == 0 ||
      contains(name, "_test.") || contains(name, ".test.") || contains(name, ".spec.")) {
    return Domain::tests;
  }
  if (contains(p, "docs/") || ends_with(p, ".md")) return Domain::docs;
  if (contains(p, "migration") || ends_with(p, ".sql") || contains(name, "schema")) {
    return Domain::database;
  }
  for (const char* ext : {".tsx", ".jsx", ".vue", ".html", ".css", ".scss", ".svelte"}) {
    if (ends_with(p, ext)) return Domain::ui;
  }
  for (const char* dir : {"components/", "pages/", "web/", "ui/", "frontend/"}) {
    if (contains(p, dir)) return Domain::ui;
  }
  if (contains(p, "api/") || contains(p, "routes")) return Domain::api;
  return Domain::backend;
}

std::string_view kind_of(Domain d) {
  switch (d) {
    case Domain::database: return "schema";
    case Domain::backend: return "backend";
    case Domain::api: return "api";
    case Domain::ui: return "ui";
    case Domain::infra: return "infra";
    case Domain::tests: return "tests";
    case Domain::docs: return "docs";
  }
  return "backend";
}

std::string_view label_of(Domain d) {
  switch (d) {
    case Domain::database: return "database schema and migrations";
    case Domain::backend: return "business logic";
    case Domain::api: return "API endpoints";
    case Domain::ui: return "user interface";
    case Domain::infra: return "infrastructure";
    case Domain::tests: return "tests";
    case Domain::docs: return "documentation";
  }
  return "business logic";
}

Complexity from_minutes(std::uint32_t minutes) {
  return minutes <= 60 ? Complexity::simple : minutes <= 90 ? Complexity::medium : Complexity::complex;
}

struct Work {
  Domain domain;
  std::vector<const std::string*> requirements;  // requirement and technical lines (of the feature)
  std::vector<Criterion> acceptance;
  std::vector<std::string> files;
  std::size_t items() const { return requirements.size() + acceptance.size(); }
  std::size_t bytes() const {
    std::size_t n = 0;
    for (const auto* r : requirements) n += r->size();
    for (const auto& a : acceptance) n += a.path.size() + a.text.size() + a.command.size();
    return n;
  }
};

Complexity complexity_of(const Work& w) {
  if (w.items() <= 2 && w.bytes() <= 240) return Complexity::simple;
  if (w.items() >= 6 || w.bytes() >= 900) return Complexity::complex;
  return Complexity::medium;
}

bool too_big(const Work& w) { return w.items() >= 10 || w.bytes() >= 1800; }

struct FeatureTasks {
  std::vector<Task> tasks;
  std::size_t implementation = 0;  // tasks[0 .. implementation) implement; then tests, docs
  TaskId last_implementation() const {
    return implementation > 0 ? tasks[implementation - 1].id : tasks[0].id;
  }
};

// The implementation domains of a feature, in dependency order. A Domain field decides; else
// the files it lists do, since each is something one of its tasks must create (a feature whose
// only file is docs/guide.md is documentation, whatever its deliverables say about deploying
// a database); else the words of its title, description and requirement lines.
std::vector<Domain> implementation_domains(const Feature& f,
                                           const std::vector<DomainSet>& line_sets) {
  if (f.domain) {
    if (*f.domain == Domain::tests || *f.domain == Domain::docs) return {};
    return {*f.domain};
  }
  DomainSet found = 0;
  if (!f.files.empty()) {
    for (const auto& file : f.files) found = static_cast<DomainSet>(found | domain_bit(path_domain(file)));
  } else {
    // Words never span lines, so the set of the whole text is the union of its parts'.
    found = static_cast<DomainSet>(mentioned_domains(f.title) | mentioned_domains(f.description));
    for (DomainSet s : line_sets) found = static_cast<DomainSet>(found | s);
  }
  std::vector<Domain> domains;
  for (const auto& k : domain_keywords()) {
    if (found & domain_bit(k.domain)) domains.push_back(k.domain);
  }
  if (domains.empty() && f.files.empty()) domains = {Domain::backend};
  return domains;
}

// Where a feature's work goes: one Work per implementation domain, then tests and docs.
class WorkPlan {
 public:
  explicit WorkPlan(std::vector<Domain> domains) : domains_(std::move(domains)) {
    impl.reserve(domains_.size());
    for (Domain d : domains_) impl.push_back(Work{d, {}, {}, {}});
    const int backend = index_of(Domain::backend);
    primary_ = domains_.empty() ? -1 : (backend >= 0 ? backend : 0);
  }

  // The first implementation task whose domain `mentioned` names, else the primary one
  // (backend if there is one); null when the feature has no implementation task.
  Work* home_of(DomainSet mentioned) {
    for (std::size_t i = 0; i < domains_.size(); ++i) {
      if (mentioned & domain_bit(domains_[i])) return &impl[i];
    }
    return primary_ >= 0 ? &impl[static_cast<std::size_t>(primary_)] : nullptr;
  }

  // The one rule for expected files and file:/contains: criteria, so a file and the criterion
  // that checks it land on the same task: tests and docs paths go to those tasks, an
  // implementation path to the task of its domain, else to the last implementation task
  // (where the implementation is finished), else to tests.
  Work& creator_of(const std::string& path) {
    const Domain d = path_domain(path);
    if (d == Domain::tests) return tests;
    if (d == Domain::docs) return docs;
    if (const int i = index_of(d); i >= 0) return impl[static_cast<std::size_t>(i)];
    return impl.empty() ? tests : impl.back();
  }

  std::vector<Work> impl;
  Work tests{Domain::tests, {}, {}, {}};
  Work docs{Domain::docs, {}, {}, {}};

 private:
  int index_of(Domain d) const {
    for (std::size_t i = 0; i < domains_.size(); ++i) {
      if (domains_[i] == d) return static_cast<int>(i);
    }
    return -1;
  }

  std::vector<Domain> domains_;
  int primary_ = -1;
};

// Where a feature with no implementation task does its work: a documentation feature (Domain:
// docs, or only docs files) in its docs task — "How to deploy the cache" is a page to write,
// not a test — anything else in its tests task.
Work& without_implementation(const Feature& f, WorkPlan& work) {
  const bool documentation =
      f.domain ? *f.domain == Domain::docs
               : !f.files.empty() && std::all_of(f.files.begin(), f.files.end(), [](const auto& p) {
                   return path_domain(p) == Domain::docs;
                 });
  return documentation ? work.docs : work.tests;
}

// Each criterion is typed here, once, by protocol's parser (the spec parser has refused
// malformed ones with their line). run: criteria are the tests task's; a criterion naming a
// path goes to the path's creator; prose stays with the implementation task it is about (the
// one whose domain it mentions, else the primary one: "400 g flour" is the recipe's, not only
// the tests'), and the tests task must cover every prose criterion too.
void place_criteria(const Feature& f, WorkPlan& work) {
  for (const auto& text : f.acceptance) {
    Criterion typed = criterion_of(text);
    switch (typed.kind) {
      case CriterionKind::run:
        work.tests.acceptance.push_back(std::move(typed));
        break;
      case CriterionKind::file:
      case CriterionKind::contains: {
        Work& creator = work.creator_of(typed.path);
        creator.acceptance.push_back(std::move(typed));
        break;
      }
      case CriterionKind::prose:
        if (Work* home = work.home_of(mentioned_domains(typed.text))) {
          home->acceptance.push_back(typed);
        } else if (Work& docs = without_implementation(f, work); &docs == &work.docs) {
          docs.acceptance.push_back(typed);
        }
        work.tests.acceptance.push_back(prose_criterion("Verified by a test: " + typed.text));
        break;
    }
  }
}

// Shares `total` over the tasks flagged in `open`, in proportion to their minutes, whole
// minutes with what rounding down leaves given a minute each from the first task on.
void share_minutes(std::vector<Task>& tasks, const std::vector<bool>& open, std::uint32_t total) {
  std::uint64_t weight = 0;
  for (std::size_t i = 0; i < tasks.size(); ++i) weight += open[i] ? tasks[i].minutes : 0;
  if (weight == 0) return;
  std::uint32_t given = 0;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (!open[i]) continue;
    tasks[i].minutes = static_cast<std::uint32_t>(std::uint64_t{total} * tasks[i].minutes / weight);
    given += tasks[i].minutes;
  }
  for (std::size_t i = 0; given < total && i < tasks.size(); ++i) {
    if (open[i]) {
      ++tasks[i].minutes;
      ++given;
    }
  }
}

// A stated estimate ("Complex (240 min)") is the feature's total: it is shared over the
// feature's tasks in proportion to what the rules estimate for each, so the tasks add up to
// what the spec says. No task takes more than 120 minutes: a share over that is cut to 120 and
// the rest shared again over the others (a total over 120 per task cannot be met). A task
// gets at least 1 minute.
void spread_stated_minutes(std::vector<Task>& tasks, std::uint32_t total) {
  std::vector<std::uint32_t> weights(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) weights[i] = tasks[i].minutes;
  std::vector<bool> open(tasks.size(), true);
  for (bool capped = true; capped;) {
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      if (open[i]) tasks[i].minutes = weights[i];
    }
    share_minutes(tasks, open, total);
    capped = false;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      if (open[i] && tasks[i].minutes > 120) {
        tasks[i].minutes = 120;
        open[i] = false;
        total = total > 120 ? total - 120 : 0;
        capped = true;
      }
    }
  }
  for (auto& t : tasks) {
    t.minutes = std::max<std::uint32_t>(t.minutes, 1);
    t.complexity = from_minutes(t.minutes);
  }
}

bool names_path(const Criterion& c) {
  return c.kind == CriterionKind::file || c.kind == CriterionKind::contains;
}

// Halves a task's criteria for a split: the second part finishes the files, so the criteria
// that check files go with it; the others are shared half and half, in order.
void split_criteria(std::vector<Criterion>& first, std::vector<Criterion>& second) {
  std::vector<Criterion> keep;
  std::vector<Criterion> of_files;
  for (auto& c : first) (names_path(c) ? of_files : keep).push_back(std::move(c));
  const std::size_t half = keep.size() / 2;
  second.assign(std::make_move_iterator(keep.begin() + static_cast<long>(half)),
                std::make_move_iterator(keep.end()));
  for (auto& c : of_files) second.push_back(std::move(c));
  keep.resize(half);
  first = std::move(keep);
}

FeatureTasks decompose_one(const Feature& f) {
  // What each requirement and technical line mentions, found once: it decides both the
  // feature's domains and each line's home.
  std::vector<DomainSet> line_sets;
  line_sets.reserve(f.requirements.size() + f.technical.size());
  for (const auto* list : {&f.requirements, &f.technical}) {
    for (const auto& line : *list) line_sets.push_back(mentioned_domains(line));
  }
  WorkPlan work(implementation_domains(f, line_sets));

  std::size_t line_index = 0;
  for (const auto* list : {&f.requirements, &f.technical}) {
    for (const auto& line : *list) {
      Work* home = work.home_of(line_sets[line_index++]);
      (home ? *home : without_implementation(f, work)).requirements.push_back(&line);
    }
  }
  place_criteria(f, work);
  for (const auto& file : f.files) work.creator_of(file).files.push_back(file);
  std::vector<Work>& impl = work.impl;
  Work& tests = work.tests;
  Work& docs = work.docs;

  // Split work that is more than one 2-hour task, while the feature has room.
  std::vector<Work> parts;
  std::size_t room = kMaxTasksPerFeature - 2 - impl.size();
  for (auto& w : impl) {
    if (room > 0 && too_big(w)) {
      Work second{w.domain, {}, {}, {}};
      const std::size_t half_r = w.requirements.size() / 2;
      second.requirements.assign(w.requirements.begin() + static_cast<long>(half_r), w.requirements.end());
      w.requirements.resize(half_r);
      split_criteria(w.acceptance, second.acceptance);
      second.files = std::move(w.files);  // the files are finished by the second part
      w.files.clear();
      parts.push_back(std::move(w));
      parts.push_back(std::move(second));
      --room;
    } else {
      parts.push_back(std::move(w));
    }
  }

  FeatureTasks out;
  out.tasks.reserve(parts.size() + 2);
  std::array<int, 7> seen{};  // by domain: parts so far, for "-2" suffixes
  const auto make = [&](Work&& w, Complexity c, std::uint32_t minutes) {
    Task t;
    const int n = ++seen[static_cast<std::size_t>(w.domain)];
    const std::size_t number = out.tasks.size() + 1;
    const std::string_view kind = kind_of(w.domain);
    std::string id;
    id.reserve(f.id.str().size() + 8 + kind.size());
    id += f.id.str();
    id += number < 10 ? "/0" : "/";
    id += std::to_string(number);
    id += '-';
    id += kind;
    if (n > 1) {
      id += '-';
      id += std::to_string(n);
    }
    t.id = TaskId(std::move(id));
    t.feature = f.id;
    const std::string_view label = label_of(w.domain);
    t.title.reserve(f.title.size() + 2 + label.size());
    t.title += f.title;
    t.title += ": ";
    t.title += label;
    if (n > 1) {
      t.title += " (part ";
      t.title += std::to_string(n);
      t.title += ')';
    }
    t.domain = w.domain;
    t.complexity = c;
    t.minutes = minutes;
    t.priority = f.priority;
    const bool with_notes = !f.context.empty() && w.domain != Domain::tests &&
                            w.domain != Domain::docs;
    std::size_t size = f.description.size() + (with_notes ? 24 + f.context.size() : 0);
    if (!w.requirements.empty()) size += 29;
    for (const auto* r : w.requirements) size += 3 + r->size();
    t.description.reserve(size);
    t.description += f.description;
    if (!w.requirements.empty()) {
      t.description += "\n\nRequirements for this task:";
      for (const auto* r : w.requirements) {
        t.description += "\n- ";
        t.description += *r;
      }
    }
    if (with_notes) {
      t.description += "\n\nNotes from the spec:\n";
      t.description += f.context;
    }
    t.acceptance = std::move(w.acceptance);
    t.files = std::move(w.files);
    out.tasks.push_back(std::move(t));
  };

  for (auto& w : parts) {
    Complexity c = complexity_of(w);
    if (f.complexity) c = *f.complexity;
    const std::uint32_t minutes = minutes_for(c);
    if (w.acceptance.empty()) {
      w.acceptance.push_back(prose_criterion("The " + std::string(label_of(w.domain)) + " of " +
                                             f.title + " is complete and builds without errors"));
    }
    make(std::move(w), c, minutes);
  }
  out.implementation = out.tasks.size();

  const std::size_t criteria = f.acceptance.size();
  const Complexity tc = criteria <= 2 ? Complexity::simple : criteria <= 5 ? Complexity::medium : Complexity::complex;
  tests.acceptance.insert(tests.acceptance.begin(),
                          prose_criterion("Automated tests for " + f.title +
                                          " pass and cover its behaviour"));
  make(std::move(tests), tc, minutes_for(tc));
  const Complexity dc = out.implementation >= 3 ? Complexity::medium : Complexity::simple;
  docs.acceptance.insert(docs.acceptance.begin(),
                         prose_criterion("The documentation explains what " + f.title +
                                         " does and how to use it"));
  make(std::move(docs), dc, minutes_for(dc));

  if (f.minutes > 0) spread_stated_minutes(out.tasks, f.minutes);

  // Chain: implementation in order, tests after all of it, docs after tests.
  for (std::size_t i = 1; i < out.implementation; ++i) {
    out.tasks[i].depends_on.push_back(out.tasks[i - 1].id);
  }
  Task& tests_task = out.tasks[out.implementation];
  tests_task.depends_on.reserve(out.implementation);
  for (std::size_t i = 0; i < out.implementation; ++i) tests_task.depends_on.push_back(out.tasks[i].id);
  out.tasks[out.implementation + 1].depends_on.push_back(tests_task.id);
  return out;
}

// Calls work(from, to) on [0, n) in two halves, the second on another thread when n is large
// enough to be worth one (or on this thread if none can be started).
template <class Work>
void in_two_halves(std::size_t n, std::size_t worth_a_thread, const Work& work) {
  const std::size_t half = n / 2;
  if (n >= worth_a_thread && std::thread::hardware_concurrency() > 1) {
    try {
      auto second = std::async(std::launch::async, [&] { work(half, n); });
      work(0, half);
      second.get();
      return;
    } catch (const std::system_error&) {
      // No thread to be had: below, on this one.
    }
  }
  work(0, n);
}

}  // namespace

std::vector<Task> decompose(const std::vector<Feature>& features) {
  // Features decompose independently: on two cores, half of them on another thread.
  std::vector<FeatureTasks> per_feature(features.size());
  in_two_halves(features.size(), 4096, [&](std::size_t from, std::size_t to) {
    // Work the spec marks as done is not redone: no tasks.
    for (std::size_t i = from; i < to; ++i) {
      if (!features[i].done) per_feature[i] = decompose_one(features[i]);
    }
  });
  IdIndex index(features.size());  // views of `features`' ids
  std::size_t total = 0;
  for (std::size_t i = 0; i < features.size(); ++i) {
    total += per_feature[i].tasks.size();
    index.emplace(features[i].id.str(), static_cast<std::uint32_t>(i));
  }
  for (std::size_t i = 0; i < features.size(); ++i) {
    if (features[i].done) continue;
    FeatureTasks& mine = per_feature[i];
    mine.tasks[0].depends_on.reserve(mine.tasks[0].depends_on.size() + features[i].depends_on.size());
    for (const auto& dep : features[i].depends_on) {
      const auto found = index.find(dep.str());
      // The parser reports unknown dependencies; a done one waits for nothing.
      if (!found || features[*found].done) continue;
      mine.tasks[0].depends_on.push_back(per_feature[*found].last_implementation());
    }
    // A parent's tests wait for its sub-features' implementation.
    if (!features[i].parent.empty()) {
      if (const auto parent = index.find(features[i].parent.str());
          parent && !features[*parent].done) {
        FeatureTasks& p = per_feature[*parent];
        p.tasks[p.implementation].depends_on.push_back(mine.last_implementation());
      }
    }
  }
  std::vector<Task> tasks;
  tasks.reserve(total);
  for (auto& f : per_feature) {
    for (auto& t : f.tasks) tasks.push_back(std::move(t));
  }
  return tasks;
}

Plan make_plan(const Spec& spec) {
  Plan plan;
  plan.title = spec.title;
  plan.overview = spec.overview;
  plan.features = spec.features;
  plan.tasks = decompose(spec.features);
  return plan;
}

Plan make_plan(Spec&& spec) {
  Plan plan;
  plan.title = std::move(spec.title);
  plan.overview = std::move(spec.overview);
  plan.tasks = decompose(spec.features);
  plan.features = std::move(spec.features);
  return plan;
}

}  // namespace br
