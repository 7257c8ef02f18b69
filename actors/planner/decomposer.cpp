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

// "file: PATH" / "contains: PATH ~ TEXT" → PATH; "run: …" → "" with is_run set.
std::string criterion_path(const std::string& criterion, bool& is_run) {
  is_run = false;
  // Prose, the common case, starts with none of the three words: no copies for it.
  const auto lead_at = criterion.find_first_not_of('`');
  if (lead_at == std::string::npos) return "";
  const char lead = static_cast<char>(criterion[lead_at] | 0x20);
  if (lead != 'r' && lead != 'f' && lead != 'c') return "";
  std::string c = criterion;
  c.erase(std::remove(c.begin(), c.end(), '`'), c.end());
  const std::string l = ascii_lower(c);
  is_run = l.rfind("run:", 0) == 0;
  std::string rest;
  if (l.rfind("file:", 0) == 0) rest = c.substr(5);
  else if (l.rfind("contains:", 0) == 0) rest = c.substr(9, c.find('~') == std::string::npos ? std::string::npos : c.find('~') - 9);
  const auto first = rest.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = rest.find_last_not_of(" \t");
  return rest.substr(first, last - first + 1);
}

Complexity from_minutes(std::uint32_t minutes) {
  return minutes <= 60 ? Complexity::simple : minutes <= 90 ? Complexity::medium : Complexity::complex;
}

struct Work {
  Domain domain;
  std::vector<const std::string*> requirements;  // requirement and technical lines (of the feature)
  std::vector<std::string> acceptance;
  std::vector<std::string> files;
  std::size_t items() const { return requirements.size() + acceptance.size(); }
  std::size_t bytes() const {
    std::size_t n = 0;
    for (const auto* r : requirements) n += r->size();
    for (const auto& a : acceptance) n += a.size();
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

FeatureTasks decompose_one(const Feature& f) {
  // What each requirement and technical line mentions, found once: it decides both the
  // feature's domains and each line's home.
  std::vector<DomainSet> line_sets;
  line_sets.reserve(f.requirements.size() + f.technical.size());
  for (const auto* list : {&f.requirements, &f.technical}) {
    for (const auto& line : *list) line_sets.push_back(mentioned_domains(line));
  }

  // Implementation domains.
  std::vector<Domain> domains;
  if (f.domain) {
    if (*f.domain != Domain::tests && *f.domain != Domain::docs) domains = {*f.domain};
  } else {
    // Words never span lines, so the set of the whole text is the union of its parts'.
    DomainSet found = static_cast<DomainSet>(mentioned_domains(f.title) |
                                             mentioned_domains(f.description));
    for (DomainSet s : line_sets) found = static_cast<DomainSet>(found | s);
    for (const auto& k : domain_keywords()) {
      if (found & domain_bit(k.domain)) domains.push_back(k.domain);
    }
    if (domains.empty()) domains = {Domain::backend};
  }
  const auto index_of = [&](Domain d) -> int {
    for (std::size_t i = 0; i < domains.size(); ++i) {
      if (domains[i] == d) return static_cast<int>(i);
    }
    return -1;
  };
  const int primary = domains.empty() ? -1 : (index_of(Domain::backend) >= 0 ? index_of(Domain::backend) : 0);

  std::vector<Work> impl;
  impl.reserve(domains.size());
  for (Domain d : domains) impl.push_back(Work{d, {}, {}, {}});
  Work tests{Domain::tests, {}, {}, {}};
  Work docs{Domain::docs, {}, {}, {}};

  const auto home_of = [&](DomainSet mentioned) -> int {
    for (std::size_t i = 0; i < domains.size(); ++i) {
      if (mentioned & domain_bit(domains[i])) return static_cast<int>(i);
    }
    return primary;
  };
  const auto work_for_domain = [&](Domain d) -> Work* {
    if (d == Domain::tests) return &tests;
    if (d == Domain::docs) return &docs;
    if (const int i = index_of(d); i >= 0) return &impl[static_cast<std::size_t>(i)];
    if (primary >= 0) return &impl[static_cast<std::size_t>(primary)];
    return &tests;
  };

  std::size_t line_index = 0;
  for (const auto* list : {&f.requirements, &f.technical}) {
    for (const auto& line : *list) {
      const int home = home_of(line_sets[line_index++]);
      (home >= 0 ? impl[static_cast<std::size_t>(home)] : tests).requirements.push_back(&line);
    }
  }
  for (const auto& criterion : f.acceptance) {
    bool is_run = false;
    const std::string path = criterion_path(criterion, is_run);
    if (is_run) {
      tests.acceptance.push_back(criterion);
    } else if (!path.empty()) {
      work_for_domain(path_domain(path))->acceptance.push_back(criterion);
    } else {
      const DomainSet mentioned = mentioned_domains(criterion);
      for (std::size_t i = 0; i < domains.size(); ++i) {
        if (mentioned & domain_bit(domains[i])) {
          impl[i].acceptance.push_back(criterion);
          break;
        }
      }
      std::string verified = "Verified by a test: ";
      verified += criterion;
      tests.acceptance.push_back(std::move(verified));
    }
  }
  for (const auto& file : f.files) {
    const Domain d = path_domain(file);
    // A plain source file with no backend task goes where the implementation ends.
    const bool to_last = d == Domain::backend && index_of(Domain::backend) < 0 && !impl.empty();
    (to_last ? &impl.back() : work_for_domain(d))->files.push_back(file);
  }

  // Split work that is more than one 2-hour task, while the feature has room.
  std::vector<Work> parts;
  std::size_t room = kMaxTasksPerFeature - 2 - impl.size();
  for (auto& w : impl) {
    if (room > 0 && too_big(w)) {
      Work second{w.domain, {}, {}, {}};
      const std::size_t half_r = w.requirements.size() / 2, half_a = w.acceptance.size() / 2;
      second.requirements.assign(w.requirements.begin() + static_cast<long>(half_r), w.requirements.end());
      w.requirements.resize(half_r);
      second.acceptance.assign(w.acceptance.begin() + static_cast<long>(half_a), w.acceptance.end());
      w.acceptance.resize(half_a);
      second.files = w.files;  // the files are finished by the second part
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
    std::uint32_t minutes = minutes_for(c);
    if (f.minutes > 0) {
      minutes = std::min<std::uint32_t>(f.minutes, 120);
      c = from_minutes(minutes);
    } else if (f.complexity) {
      c = *f.complexity;
      minutes = minutes_for(c);
    }
    if (w.acceptance.empty()) {
      w.acceptance.push_back("The " + std::string(label_of(w.domain)) + " of " + f.title +
                             " is complete and builds without errors");
    }
    make(std::move(w), c, minutes);
  }
  out.implementation = out.tasks.size();

  const std::size_t criteria = f.acceptance.size();
  const Complexity tc = criteria <= 2 ? Complexity::simple : criteria <= 5 ? Complexity::medium : Complexity::complex;
  tests.acceptance.insert(tests.acceptance.begin(), "Automated tests for " + f.title +
                                                        " pass and cover its behaviour");
  make(std::move(tests), tc, minutes_for(tc));
  const Complexity dc = out.implementation >= 3 ? Complexity::medium : Complexity::simple;
  docs.acceptance.insert(docs.acceptance.begin(), "The documentation explains what " + f.title +
                                                      " does and how to use it");
  make(std::move(docs), dc, minutes_for(dc));

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
