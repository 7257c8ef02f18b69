// Features → 1–2 hour tasks. The rules, pinned by tests/unit/decomposer_test.cpp:
//
// Kinds of work. A feature's implementation domains, in dependency order database → backend →
// api → ui → infra, are set by a **Domain:** field (tests or docs: the feature is only its
// tests and docs tasks); else by the paths of its Files (a feature listing only docs/ files
// has no implementation task); else by the words of its title, description, requirements and
// technical details (domain_keywords.hpp); none mentioned means backend. Every feature then
// gets a tests task and a docs task: 2–8 tasks per feature.
//
// Ids and order. Tasks are FEATURE/NN-kind (schema, backend, api, ui, infra, tests, docs),
// NN from 01 in dependency order. Implementation tasks form a chain; tests depends on every
// implementation task (and, for a parent, on the last implementation task of each
// sub-feature); docs depends on tests. "Depends on" between features makes the first task of
// the dependent feature depend on the last implementation task (or, lacking one, the tests
// task) of each feature it depends on.
//
// What each task gets. Each requirement and technical line goes to the first of the
// feature's domains it mentions, else to backend (or the first domain); in a feature without
// implementation tasks, to docs for a documentation feature (Domain: docs, or only docs
// files; its prose criteria too), else to tests. An expected file and
// a file:/contains: criterion go by one rule to the task that creates the path: tests/ and
// test_ / _test. / .spec. → tests; docs/ and *.md → docs; migrations/, *.sql, schema →
// database; *.tsx, *.jsx, *.vue, *.html, *.css, components/, pages/, web/, ui/, frontend/ →
// ui; api/, routes → api; anything else backend; a domain without a task of its own → the
// last implementation task. run: criteria go to tests. A prose criterion stays with the
// implementation task whose domain it mentions, else the backend (or first) one, and the
// tests task must cover every prose criterion too.
//
// Complexity (60/90/120 min). An implementation task with at most 2 items (requirements,
// technical lines and criteria) and 240 bytes of them is simple; 6 or more items or 900 bytes
// is complex; otherwise medium. With 10 or more items or 1800 bytes it is split into two
// tasks, while the feature has room (8 tasks at most); the second part gets the files and
// the criteria that check them. Tests: simple up to 2 criteria, medium up to 5, else complex.
// Docs: simple, medium for a feature of 3+ implementation tasks. A **Complexity:** field sets
// every implementation task; its minutes are the feature's total, shared over all its tasks
// in proportion to their minutes (1 to 120 each).
//
// Same spec in, same tasks out, byte for byte: nothing here depends on time, randomness or
// hash order.
#pragma once

#include <vector>

#include "actors/planner/spec_parser.hpp"
#include "protocol/model.hpp"

namespace br {

inline constexpr std::size_t kMaxTasksPerFeature = 8;

std::vector<Task> decompose(const std::vector<Feature>& features);

// Plan{title, overview, features, decompose(features)}.
Plan make_plan(const Spec& spec);
// The same, moving the spec's features into the plan instead of copying them.
Plan make_plan(Spec&& spec);

}  // namespace br
