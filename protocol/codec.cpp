#include "protocol/codec.hpp"

#include <sys/mman.h>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "protocol/br.capnp.h"

namespace br {
namespace {

// Raised inside a decode when the input is well-formed Cap'n Proto but not a valid br value
// (unknown enum, over the memory budget). Caught at the decode boundary; never escapes.
struct Invalid : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- model → Cap'n Proto -------------------------------------------------------------------

// All of `s`, NUL bytes included: capnp's implicit conversion from std::string goes through
// c_str() and would cut a text at its first NUL, so that what decodes is not what was sent.
capnp::Text::Reader text_of(const std::string& s) { return capnp::Text::Reader(s.data(), s.size()); }
capnp::Data::Reader data_of(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

template <class List>
void set_texts(List list, const std::vector<std::string>& values) {
  for (unsigned i = 0; i < values.size(); ++i) list.set(i, text_of(values[i]));
}

template <class List, class Tag>
void set_ids(List list, const std::vector<Id<Tag>>& values) {
  for (unsigned i = 0; i < values.size(); ++i) list.set(i, text_of(values[i].str()));
}

unsigned count(std::size_t n) { return static_cast<unsigned>(n); }

void put(wire::Feature::Builder b, const Feature& f) {
  b.setId(text_of(f.id.str()));
  b.setTitle(text_of(f.title));
  b.setDescription(text_of(f.description));
  b.setPriority(static_cast<wire::Priority>(f.priority));
  set_ids(b.initDependsOn(count(f.depends_on.size())), f.depends_on);
  b.setHasDomain(f.domain.has_value());
  if (f.domain) b.setDomain(static_cast<wire::Domain>(*f.domain));
  b.setHasComplexity(f.complexity.has_value());
  if (f.complexity) b.setComplexity(static_cast<wire::Complexity>(*f.complexity));
  b.setMinutes(f.minutes);
  set_texts(b.initRequirements(count(f.requirements.size())), f.requirements);
  set_texts(b.initAcceptance(count(f.acceptance.size())), f.acceptance);
  set_texts(b.initTechnical(count(f.technical.size())), f.technical);
  set_texts(b.initFiles(count(f.files.size())), f.files);
  b.setParent(text_of(f.parent.str()));
  b.setContext(text_of(f.context));
  b.setLine(f.line);
  b.setDone(f.done);
}

void put(wire::Task::Builder b, const Task& t) {
  b.setId(text_of(t.id.str()));
  b.setFeature(text_of(t.feature.str()));
  b.setTitle(text_of(t.title));
  b.setDescription(text_of(t.description));
  b.setDomain(static_cast<wire::Domain>(t.domain));
  b.setComplexity(static_cast<wire::Complexity>(t.complexity));
  b.setMinutes(t.minutes);
  b.setPriority(static_cast<wire::Priority>(t.priority));
  set_ids(b.initDependsOn(count(t.depends_on.size())), t.depends_on);
  auto texts = b.initAcceptance(count(t.acceptance.size()));
  auto criteria = b.initCriteria(count(t.acceptance.size()));
  for (unsigned i = 0; i < t.acceptance.size(); ++i) {
    const Criterion& c = t.acceptance[i];
    texts.set(i, text_of(to_string(c)));
    criteria[i].setKind(static_cast<wire::CriterionKind>(c.kind));
    criteria[i].setPath(text_of(c.path));
    criteria[i].setText(text_of(c.text));
    criteria[i].setCommand(text_of(c.command));
  }
  set_texts(b.initFiles(count(t.files.size())), t.files);
}

void put(wire::Plan::Builder b, const Plan& p) {
  b.setTitle(text_of(p.title));
  b.setOverview(text_of(p.overview));
  auto features = b.initFeatures(count(p.features.size()));
  for (unsigned i = 0; i < p.features.size(); ++i) put(features[i], p.features[i]);
  auto tasks = b.initTasks(count(p.tasks.size()));
  for (unsigned i = 0; i < p.tasks.size(); ++i) put(tasks[i], p.tasks[i]);
}

void put(wire::Batch::Builder b, const Batch& batch) {
  b.setId(text_of(batch.id.str()));
  b.setDomain(static_cast<wire::Domain>(batch.domain));
  auto tasks = b.initTasks(count(batch.tasks.size()));
  for (unsigned i = 0; i < batch.tasks.size(); ++i) {
    put(tasks[i].initTask(), batch.tasks[i].task);
    tasks[i].setAttempt(batch.tasks[i].attempt);
    tasks[i].setLastFailure(text_of(batch.tasks[i].last_failure));
  }
  b.setProject(text_of(batch.project));
  auto completed = b.initCompleted(count(batch.completed.size()));
  for (unsigned i = 0; i < batch.completed.size(); ++i) {
    completed[i].setTask(text_of(batch.completed[i].task.str()));
    completed[i].setTitle(text_of(batch.completed[i].title));
    set_texts(completed[i].initFiles(count(batch.completed[i].files.size())),
              batch.completed[i].files);
  }
  b.setLeaseMs(batch.lease_ms);
  b.setBase(text_of(batch.base));
  b.setPrompt(text_of(batch.prompt));
}

void put(wire::AttemptAgent::Builder b, const AttemptAgent& a) {
  b.setRoute(text_of(a.route));
  b.setCommand(text_of(a.command));
}

void put(wire::Usage::Builder b, const Usage& u) {
  b.setKnown(u.known);
  b.setTokensIn(u.tokens_in);
  b.setTokensOut(u.tokens_out);
  b.setCacheWriteTokens(u.cache_write_tokens);
  b.setCacheReadTokens(u.cache_read_tokens);
  b.setCostKnown(u.cost_known);
  b.setCostMicroUsd(u.cost_micro_usd);
  b.setTurns(u.turns);
  b.setDurationMs(u.duration_ms);
}

void put(wire::TaskResult::Builder b, const TaskResult& r) {
  b.setTask(text_of(r.task.str()));
  b.setAttempt(r.attempt);
  b.setBatch(text_of(r.batch.str()));
  b.setSuccess(r.success);
  b.setReason(text_of(r.reason));
  set_texts(b.initFiles(count(r.files.size())), r.files);
  b.setWorker(text_of(r.worker));
  b.setStartedMs(r.started_ms);
  b.setFinishedMs(r.finished_ms);
  b.setLogPath(text_of(r.log_path));
  b.setCommit(text_of(r.commit));
  b.setPack(data_of(r.pack));
  put(b.initUsage(), r.usage);
  b.setInfrastructure(r.infrastructure);
  put(b.initAgent(), r.agent);
}

void put(wire::WorkerHello::Builder b, const WorkerHello& h) {
  b.setName(text_of(h.name));
  b.setSlots(h.slots);
  b.setProtocolVersion(h.protocol_version);
  b.setToken(text_of(h.token));
  set_ids(b.initHeldTasks(count(h.held_tasks.size())), h.held_tasks);
  auto attempts = b.initHeldAttempts(count(h.held_attempts.size()));
  for (unsigned i = 0; i < h.held_attempts.size(); ++i) attempts.set(i, h.held_attempts[i]);
}

void put(wire::WorkRequest::Builder b, const WorkRequest& v) {
  b.setWorker(text_of(v.worker));
  b.setFreeSlots(v.free_slots);
}

void put(wire::TaskProgress::Builder b, const TaskProgress& v) {
  b.setTask(text_of(v.task.str()));
  b.setAttempt(v.attempt);
  b.setBatch(text_of(v.batch.str()));
  b.setWorker(text_of(v.worker));
  b.setStartedMs(v.started_ms);
}

void put(wire::HelloReply::Builder b, const HelloReply& v) {
  b.setAccepted(v.accepted);
  b.setReason(text_of(v.reason));
  b.setRunId(text_of(v.run_id));
}

void put(wire::ObjectsRequest::Builder b, const ObjectsRequest& v) {
  b.setWant(text_of(v.want));
  set_texts(b.initHave(count(v.have.size())), v.have);
  b.setOffset(v.offset);
}

void put(wire::ObjectsChunk::Builder b, const ObjectsChunk& v) {
  b.setError(text_of(v.error));
  b.setPackId(text_of(v.pack_id));
  b.setTotal(v.total);
  b.setData(data_of(v.data));
}

void put(wire::ReadyTasks::Builder b, const ReadyTasks& v) {
  set_ids(b.initTasks(count(v.tasks.size())), v.tasks);
  set_ids(b.initRetries(count(v.retries.size())), v.retries);
}

void put(wire::JournalRecord::Builder b, const JournalRecord& r) {
  b.setRunId(text_of(r.run_id));
  b.setTimeMs(r.time_ms);
  b.setSchemaVersion(kJournalSchemaVersion);
  auto body = b.getBody();
  struct Visitor {
    wire::JournalRecord::Body::Builder body;
    void operator()(const rec::PlanCreated& v) {
      auto g = body.initPlanCreated();
      put(g.initPlan(), v.plan);
      g.setSpecPath(text_of(v.spec_path));
      g.setSpecHash(text_of(v.spec_hash));
      g.setBranch(text_of(v.branch));
      g.setBaseCommit(text_of(v.base_commit));
      g.setRepo(text_of(v.repo));
    }
    void operator()(const rec::TaskReady& v) { body.initTaskReady().setTask(text_of(v.task.str())); }
    void operator()(const rec::BatchDispatched& v) {
      auto g = body.initBatchDispatched();
      g.setBatch(text_of(v.batch.str()));
      g.setWorker(text_of(v.worker));
      set_ids(g.initTasks(count(v.tasks.size())), v.tasks);
      auto attempts = g.initAttempts(count(v.attempts.size()));
      for (unsigned i = 0; i < v.attempts.size(); ++i) attempts.set(i, v.attempts[i]);
      g.setLeaseUntilMs(v.lease_until_ms);
    }
    void operator()(const rec::TaskStarted& v) {
      auto g = body.initTaskStarted();
      g.setTask(text_of(v.task.str()));
      g.setAttempt(v.attempt);
      g.setWorker(text_of(v.worker));
    }
    void operator()(const rec::TaskSucceeded& v) {
      auto g = body.initTaskSucceeded();
      g.setTask(text_of(v.task.str()));
      g.setAttempt(v.attempt);
      g.setWorker(text_of(v.worker));
      set_texts(g.initFiles(count(v.files.size())), v.files);
      g.setCommit(text_of(v.commit));
      g.setHead(text_of(v.head));
      put(g.initUsage(), v.usage);
      put(g.initAgent(), v.agent);
    }
    void operator()(const rec::TaskFailed& v) {
      auto g = body.initTaskFailed();
      g.setTask(text_of(v.task.str()));
      g.setAttempt(v.attempt);
      g.setReason(text_of(v.reason));
      put(g.initUsage(), v.usage);
      put(g.initAgent(), v.agent);
    }
    void operator()(const rec::TaskRetrying& v) {
      auto g = body.initTaskRetrying();
      g.setTask(text_of(v.task.str()));
      g.setNextAttempt(v.next_attempt);
      g.setNotBeforeMs(v.not_before_ms);
      g.setUncharged(v.uncharged);
    }
    void operator()(const rec::TaskBlocked& v) {
      auto g = body.initTaskBlocked();
      g.setTask(text_of(v.task.str()));
      g.setCause(text_of(v.cause.str()));
    }
    void operator()(const rec::TaskCancelled& v) {
      auto g = body.initTaskCancelled();
      g.setTask(text_of(v.task.str()));
      g.setReason(text_of(v.reason));
    }
    void operator()(const rec::WorkerJoined& v) {
      auto g = body.initWorkerJoined();
      g.setWorker(text_of(v.worker));
      g.setSlots(v.slots);
      g.setAddress(text_of(v.address));
    }
    void operator()(const rec::WorkerLost& v) {
      auto g = body.initWorkerLost();
      g.setWorker(text_of(v.worker));
      g.setReason(text_of(v.reason));
    }
    void operator()(const rec::RunStopped& v) { body.initRunStopped().setReason(text_of(v.reason)); }
    void operator()(const rec::RunResumed&) { body.setRunResumed(); }
    void operator()(const rec::PlanRevised& v) {
      auto g = body.initPlanRevised();
      put(g.initPlan(), v.plan);
      g.setSpecPath(text_of(v.spec_path));
      g.setSpecHash(text_of(v.spec_hash));
    }
    void operator()(const rec::RunCompleted& v) {
      body.initRunCompleted().setOutcome(static_cast<wire::RunOutcome>(v.outcome));
    }
    void operator()(const rec::TasksReopened& v) {
      set_ids(body.initTasksReopened().initTasks(count(v.tasks.size())), v.tasks);
    }
  };
  std::visit(Visitor{body}, r.body);
}

void put(wire::RunSnapshot::Builder b, const RunState& s, bool plan_apart) {
  b.setSchemaVersion(kJournalSchemaVersion);
  b.setRunId(text_of(s.run_id()));
  b.setLastSeq(s.last_seq());
  b.setStatus(static_cast<std::uint8_t>(s.status()));
  if (s.has_plan() && plan_apart) {
    b.setPlanSeq(s.plan_seq());
  } else if (s.has_plan()) {
    put(b.initPlan(), s.plan());
  }
  b.setSpecPath(text_of(s.spec_path()));
  b.setSpecHash(text_of(s.spec_hash()));
  b.setBranch(text_of(s.branch()));
  b.setBaseCommit(text_of(s.base_commit()));
  b.setHead(text_of(s.head()));
  b.setRepo(text_of(s.repo()));
  auto tasks = b.initTasks(count(s.tasks().size()));
  for (unsigned i = 0; i < s.tasks().size(); ++i) {
    const TaskState& t = s.tasks()[i];
    auto w = tasks[i];
    w.setStatus(static_cast<std::uint8_t>(t.status));
    w.setAttempt(t.attempt);
    w.setWorker(text_of(t.worker));
    w.setBatch(text_of(t.batch.str()));
    w.setReason(text_of(t.reason));
    auto files = w.initFiles(count(t.files.size()));
    for (unsigned k = 0; k < t.files.size(); ++k) files.set(k, text_of(t.files[k]));
    w.setReadyMs(t.ready_ms);
    w.setDispatchedMs(t.dispatched_ms);
    w.setStartedMs(t.started_ms);
    w.setFinishedMs(t.finished_ms);
    w.setLeaseUntilMs(t.lease_until_ms);
    w.setNotBeforeMs(t.not_before_ms);
    w.setCommit(text_of(t.commit));
    w.setAttemptBase(t.attempt_base);
    Usage sum;
    sum.known = t.usage.attempts > t.usage.unknown_attempts;
    sum.tokens_in = t.usage.tokens_in;
    sum.tokens_out = t.usage.tokens_out;
    sum.cache_write_tokens = t.usage.cache_write_tokens;
    sum.cache_read_tokens = t.usage.cache_read_tokens;
    sum.cost_known = sum.known;
    sum.cost_micro_usd = t.usage.cost_micro_usd;
    put(w.initUsage(), sum);
    w.setUsageAttempts(t.usage.attempts);
    w.setUsageUnknown(t.usage.unknown_attempts);
  }
  auto workers = b.initWorkers(count(s.workers().size()));
  unsigned i = 0;
  for (const auto& [name, worker] : s.workers()) {
    auto w = workers[i++];
    w.setName(text_of(name));
    w.setSlots(worker.slots);
    w.setAddress(text_of(worker.address));
    w.setAlive(worker.alive);
  }
}

// A message builder whose segments double from 8 KiB up to 4 MiB and then stay at 4 MiB.
// Cap'n Proto's MallocMessageBuilder makes each new segment as large as all before it, so a
// big message (a 39k-task plan: 26 MB) could take twice its size while it was built. Segments
// of 1 MiB and more are mapped pages of their own, so that flatten() can give each back to the
// OS as soon as it is copied out: the message and its bytes are never resident twice over.
class CappedGrowthBuilder final : public capnp::MessageBuilder {
 public:
  CappedGrowthBuilder() = default;
  CappedGrowthBuilder(const CappedGrowthBuilder&) = delete;
  CappedGrowthBuilder& operator=(const CappedGrowthBuilder&) = delete;
  ~CappedGrowthBuilder() override {
    for (std::size_t i = 0; i < segments_.size(); ++i) release(i);
  }

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_words) override {
    const std::size_t words = std::max<std::size_t>(minimum_words, next_words_);
    next_words_ = std::min(next_words_ * 2, kMaxSegmentWords);
    // Zeroed, as Cap'n Proto requires of a new segment (fresh mapped pages are).
    void* segment = nullptr;
    const std::size_t bytes = words * sizeof(capnp::word);
    if (bytes >= kMappedBytes) {
      segment = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (segment == MAP_FAILED) throw std::bad_alloc();
    } else {
      segment = std::calloc(words, sizeof(capnp::word));
      if (segment == nullptr) throw std::bad_alloc();
    }
    segments_.push_back(Segment{static_cast<capnp::word*>(segment), bytes});
    return kj::arrayPtr(static_cast<capnp::word*>(segment), words);
  }

  // The message in Cap'n Proto's flat format (a segment table, then the segments), each
  // segment released once copied. The builder is empty afterwards.
  std::string flatten() {
    auto used = getSegmentsForOutput();
    if (used.size() != segments_.size()) throw std::logic_error("segment bookkeeping differs");
    const std::size_t table_words = (used.size() + 2) / 2;  // count, sizes, padded to a word
    std::size_t total_words = table_words;
    for (const auto& segment : used) total_words += segment.size();
    std::string out;
    out.reserve(total_words * sizeof(capnp::word));
    std::vector<std::uint32_t> table(table_words * 2, 0);
    table[0] = static_cast<std::uint32_t>(used.size() - 1);
    for (std::size_t i = 0; i < used.size(); ++i) {
      table[i + 1] = static_cast<std::uint32_t>(used[i].size());
    }
    // Little-endian, as Cap'n Proto's wire format is; br is built for little-endian hosts.
    out.append(reinterpret_cast<const char*>(table.data()), table.size() * sizeof(std::uint32_t));
    for (std::size_t i = 0; i < used.size(); ++i) {
      if (used[i].begin() != segments_[i].words) throw std::logic_error("segment order differs");
      out.append(reinterpret_cast<const char*>(used[i].begin()),
                 used[i].size() * sizeof(capnp::word));
      release(i);
    }
    return out;
  }

 private:
  struct Segment {
    capnp::word* words;
    std::size_t bytes;
  };
  void release(std::size_t i) {
    Segment& s = segments_[i];
    if (s.words == nullptr) return;
    if (s.bytes >= kMappedBytes) {
      ::munmap(s.words, s.bytes);
    } else {
      std::free(s.words);
    }
    s.words = nullptr;
  }
  static constexpr std::size_t kMaxSegmentWords = (std::size_t{4} << 20) / sizeof(capnp::word);
  static constexpr std::size_t kMappedBytes = std::size_t{1} << 20;
  std::size_t next_words_ = 1024;
  std::vector<Segment> segments_;
};

// `fill` writes the message into the root builder it is given.
template <class Wire, class Fill>
std::string encode_with(const Fill& fill) {
  CappedGrowthBuilder message;
  fill(message.initRoot<Wire>());
  return message.flatten();
}

template <class Wire, class T>
std::string encode_as(const T& value) {
  return encode_with<Wire>([&](typename Wire::Builder b) { put(b, value); });
}

// ---- Cap'n Proto → model -------------------------------------------------------------------

// Plans with at least this many tasks are decoded on two threads (see get(Plan)).
constexpr unsigned kParallelDecodeTasks = 4096;

// Bounds the memory a decode may allocate (see DecodeLimits::amplification).
class Budget {
 public:
  Budget(std::size_t bytes, bool second_thread) : left_(bytes), second_thread_(second_thread) {}
  bool second_thread() const { return second_thread_; }
  void charge(std::size_t bytes) {
    if (bytes > left_) throw Invalid("decoded value would exceed its memory bound");
    left_ -= bytes;
  }
  // Half of what is left, for a part decoded on another thread.
  Budget split_half() {
    const std::size_t given = left_ / 2;
    left_ -= given;
    return Budget(given, false);
  }

 private:
  std::size_t left_;
  bool second_thread_;
};

std::string text(capnp::Text::Reader t, Budget& budget) {
  budget.charge(t.size());
  return std::string(t.cStr(), t.size());
}

std::vector<std::string> texts(capnp::List<capnp::Text>::Reader list, Budget& budget) {
  budget.charge(list.size() * sizeof(std::string));
  std::vector<std::string> out;
  out.reserve(list.size());
  for (auto t : list) out.push_back(text(t, budget));
  return out;
}

std::string data(capnp::Data::Reader d, Budget& budget) {
  budget.charge(d.size());
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

// A commit id from outside: empty (none) or exactly 40 lowercase hex digits.
std::string commit_id(capnp::Text::Reader t, Budget& budget, const char* what) {
  std::string id = text(t, budget);
  if (!id.empty() && !is_commit_id(id)) throw Invalid(std::string(what) + " is not a commit id");
  return id;
}

template <class IdT>
std::vector<IdT> ids(capnp::List<capnp::Text>::Reader list, Budget& budget) {
  budget.charge(list.size() * sizeof(IdT));
  std::vector<IdT> out;
  out.reserve(list.size());
  for (auto t : list) out.emplace_back(text(t, budget));
  return out;
}

// A newer peer may send enum values this build does not know; refuse them.
template <class Model, class WireEnum>
Model enum_value(WireEnum v, unsigned max, const char* what) {
  const auto raw = static_cast<unsigned>(v);
  if (raw > max) throw Invalid(std::string("unknown ") + what + " value " + std::to_string(raw));
  return static_cast<Model>(raw);
}
Priority priority(wire::Priority v) { return enum_value<Priority>(v, 3, "priority"); }
Domain domain(wire::Domain v) { return enum_value<Domain>(v, 6, "domain"); }
Complexity complexity(wire::Complexity v) { return enum_value<Complexity>(v, 2, "complexity"); }
CriterionKind criterion_kind(wire::CriterionKind v) {
  return enum_value<CriterionKind>(v, 3, "criterion kind");
}

// A task's criteria: the typed list, or, in a record written before it existed, the texts
// typed as the planner types them.
std::vector<Criterion> criteria(wire::Task::Reader r, Budget& budget) {
  if (!r.hasCriteria()) return criteria_of(texts(r.getAcceptance(), budget));
  const auto list = r.getCriteria();
  budget.charge(list.size() * sizeof(Criterion));
  std::vector<Criterion> out;
  out.reserve(list.size());
  for (auto c : list) {
    out.push_back(Criterion{criterion_kind(c.getKind()), text(c.getPath(), budget),
                            text(c.getText(), budget), text(c.getCommand(), budget)});
  }
  return out;
}

Feature get(wire::Feature::Reader r, Budget& budget) {
  Feature f;
  f.id = FeatureId(text(r.getId(), budget));
  f.title = text(r.getTitle(), budget);
  f.description = text(r.getDescription(), budget);
  f.priority = priority(r.getPriority());
  f.depends_on = ids<FeatureId>(r.getDependsOn(), budget);
  if (r.getHasDomain()) f.domain = domain(r.getDomain());
  if (r.getHasComplexity()) f.complexity = complexity(r.getComplexity());
  f.minutes = r.getMinutes();
  f.requirements = texts(r.getRequirements(), budget);
  f.acceptance = texts(r.getAcceptance(), budget);
  f.technical = texts(r.getTechnical(), budget);
  f.files = texts(r.getFiles(), budget);
  f.parent = FeatureId(text(r.getParent(), budget));
  f.context = text(r.getContext(), budget);
  f.line = r.getLine();
  f.done = r.getDone();
  return f;
}

Task get(wire::Task::Reader r, Budget& budget) {
  Task t;
  t.id = TaskId(text(r.getId(), budget));
  t.feature = FeatureId(text(r.getFeature(), budget));
  t.title = text(r.getTitle(), budget);
  t.description = text(r.getDescription(), budget);
  t.domain = domain(r.getDomain());
  t.complexity = complexity(r.getComplexity());
  t.minutes = r.getMinutes();
  t.priority = priority(r.getPriority());
  t.depends_on = ids<TaskId>(r.getDependsOn(), budget);
  t.acceptance = criteria(r, budget);
  t.files = texts(r.getFiles(), budget);
  return t;
}

Plan get(wire::Plan::Reader r, Budget& budget) {
  Plan p;
  p.title = text(r.getTitle(), budget);
  p.overview = text(r.getOverview(), budget);
  auto features = r.getFeatures();
  budget.charge(features.size() * sizeof(Feature));
  p.features.reserve(features.size());
  for (auto f : features) p.features.push_back(get(f, budget));
  auto tasks = r.getTasks();
  budget.charge(tasks.size() * sizeof(Task));
  p.tasks.resize(tasks.size());
  // A big plan's second half is decoded on a thread of its own: building the tasks' strings
  // is most of a restart's replay (a 39k-task snapshot). Each half has half of what is left of
  // the budget, so the bound on the whole stays what it was.
  const unsigned n = tasks.size();
  const unsigned half = n >= kParallelDecodeTasks && budget.second_thread() ? n / 2 : n;
  std::exception_ptr second_failed;
  std::thread second;
  if (half < n) {
    Budget second_budget = budget.split_half();
    second = std::thread([&, second_budget]() mutable {
      try {
        for (unsigned i = half; i < n; ++i) p.tasks[i] = get(tasks[i], second_budget);
      } catch (...) {
        second_failed = std::current_exception();
      }
    });
  }
  try {
    for (unsigned i = 0; i < half; ++i) p.tasks[i] = get(tasks[i], budget);
  } catch (...) {
    if (second.joinable()) second.join();
    throw;
  }
  if (second.joinable()) second.join();
  if (second_failed) std::rethrow_exception(second_failed);
  return p;
}

Batch get(wire::Batch::Reader r, Budget& budget) {
  Batch b;
  b.id = BatchId(text(r.getId(), budget));
  b.domain = domain(r.getDomain());
  auto tasks = r.getTasks();
  budget.charge(tasks.size() * sizeof(BatchTask));
  b.tasks.reserve(tasks.size());
  for (auto t : tasks) {
    b.tasks.push_back(
        BatchTask{get(t.getTask(), budget), t.getAttempt(), text(t.getLastFailure(), budget)});
  }
  b.project = text(r.getProject(), budget);
  auto completed = r.getCompleted();
  budget.charge(completed.size() * sizeof(CompletedWork));
  b.completed.reserve(completed.size());
  for (auto c : completed) {
    b.completed.push_back(CompletedWork{TaskId(text(c.getTask(), budget)),
                                        text(c.getTitle(), budget), texts(c.getFiles(), budget)});
  }
  b.lease_ms = r.getLeaseMs();
  b.base = commit_id(r.getBase(), budget, "batch base");
  b.prompt = text(r.getPrompt(), budget);
  return b;
}

// Usage is untrusted like the rest: a value past its bound is refused, not summed.
AttemptAgent get(wire::AttemptAgent::Reader r, Budget& budget) {
  return AttemptAgent{text(r.getRoute(), budget), text(r.getCommand(), budget)};
}

Usage get(wire::Usage::Reader r) {
  Usage u;
  u.known = r.getKnown();
  u.tokens_in = r.getTokensIn();
  u.tokens_out = r.getTokensOut();
  u.cache_write_tokens = r.getCacheWriteTokens();
  u.cache_read_tokens = r.getCacheReadTokens();
  u.cost_known = r.getCostKnown();
  u.cost_micro_usd = r.getCostMicroUsd();
  u.turns = r.getTurns();
  u.duration_ms = r.getDurationMs();
  if (u.tokens_in > kMaxUsageTokens || u.tokens_out > kMaxUsageTokens ||
      u.cache_write_tokens > kMaxUsageTokens || u.cache_read_tokens > kMaxUsageTokens ||
      u.cost_micro_usd > kMaxUsageMicroUsd || u.turns > kMaxUsageTurns || u.duration_ms < 0) {
    throw Invalid("a usage value is out of bounds");
  }
  return u;
}

TaskResult get(wire::TaskResult::Reader r, Budget& budget) {
  TaskResult out;
  out.task = TaskId(text(r.getTask(), budget));
  out.attempt = r.getAttempt();
  out.batch = BatchId(text(r.getBatch(), budget));
  out.success = r.getSuccess();
  out.reason = text(r.getReason(), budget);
  out.files = texts(r.getFiles(), budget);
  out.worker = text(r.getWorker(), budget);
  out.started_ms = r.getStartedMs();
  out.finished_ms = r.getFinishedMs();
  out.log_path = text(r.getLogPath(), budget);
  out.commit = commit_id(r.getCommit(), budget, "result commit");
  out.pack = data(r.getPack(), budget);
  out.usage = get(r.getUsage());
  out.infrastructure = r.getInfrastructure();
  out.agent = get(r.getAgent(), budget);
  if (!out.pack.empty() && out.commit.empty()) throw Invalid("a result's pack has no commit");
  return out;
}

WorkerHello get(wire::WorkerHello::Reader r, Budget& budget) {
  WorkerHello h;
  h.name = text(r.getName(), budget);
  h.slots = r.getSlots();
  h.protocol_version = r.getProtocolVersion();
  h.token = text(r.getToken(), budget);
  h.held_tasks = ids<TaskId>(r.getHeldTasks(), budget);
  auto attempts = r.getHeldAttempts();
  budget.charge(attempts.size() * sizeof(std::uint32_t));
  h.held_attempts.reserve(attempts.size());
  for (auto a : attempts) h.held_attempts.push_back(a);
  if (h.held_tasks.size() != h.held_attempts.size()) {
    throw Invalid("held tasks and attempts differ in length");
  }
  return h;
}

WorkRequest get(wire::WorkRequest::Reader r, Budget& budget) {
  return WorkRequest{text(r.getWorker(), budget), r.getFreeSlots()};
}

TaskProgress get(wire::TaskProgress::Reader r, Budget& budget) {
  return TaskProgress{TaskId(text(r.getTask(), budget)), r.getAttempt(),
                      BatchId(text(r.getBatch(), budget)), text(r.getWorker(), budget),
                      r.getStartedMs()};
}

HelloReply get(wire::HelloReply::Reader r, Budget& budget) {
  return HelloReply{r.getAccepted(), text(r.getReason(), budget), text(r.getRunId(), budget)};
}

ObjectsRequest get(wire::ObjectsRequest::Reader r, Budget& budget) {
  ObjectsRequest out;
  out.want = commit_id(r.getWant(), budget, "wanted commit");
  auto have = r.getHave();
  budget.charge(have.size() * sizeof(std::string));
  for (auto h : have) out.have.push_back(commit_id(h, budget, "commit had"));
  out.offset = r.getOffset();
  return out;
}

ObjectsChunk get(wire::ObjectsChunk::Reader r, Budget& budget) {
  ObjectsChunk out;
  out.error = text(r.getError(), budget);
  out.pack_id = text(r.getPackId(), budget);
  out.total = r.getTotal();
  out.data = data(r.getData(), budget);
  return out;
}

ReadyTasks get(wire::ReadyTasks::Reader r, Budget& budget) {
  ReadyTasks out;
  out.tasks = ids<TaskId>(r.getTasks(), budget);
  out.retries = ids<TaskId>(r.getRetries(), budget);
  return out;
}

JournalRecord get(wire::JournalRecord::Reader r, Budget& budget) {
  if (r.getSchemaVersion() > kJournalSchemaVersion) {
    throw Invalid("journal record has schema version " + std::to_string(r.getSchemaVersion()) +
                  ", newer than this br (" + std::to_string(kJournalSchemaVersion) +
                  "); upgrade br to read it");
  }
  JournalRecord out;
  out.run_id = text(r.getRunId(), budget);
  out.time_ms = r.getTimeMs();
  auto body = r.getBody();
  using W = wire::JournalRecord::Body;
  switch (body.which()) {
    case W::PLAN_CREATED: {
      auto g = body.getPlanCreated();
      out.body = rec::PlanCreated{get(g.getPlan(), budget), text(g.getSpecPath(), budget),
                                  text(g.getSpecHash(), budget), text(g.getBranch(), budget),
                                  commit_id(g.getBaseCommit(), budget, "base commit"),
                                  text(g.getRepo(), budget)};
      break;
    }
    case W::TASK_READY:
      out.body = rec::TaskReady{TaskId(text(body.getTaskReady().getTask(), budget))};
      break;
    case W::BATCH_DISPATCHED: {
      auto g = body.getBatchDispatched();
      rec::BatchDispatched v;
      v.batch = BatchId(text(g.getBatch(), budget));
      v.worker = text(g.getWorker(), budget);
      v.tasks = ids<TaskId>(g.getTasks(), budget);
      auto attempts = g.getAttempts();
      budget.charge(attempts.size() * sizeof(std::uint32_t));
      v.attempts.reserve(attempts.size());
      for (auto a : attempts) v.attempts.push_back(a);
      v.lease_until_ms = g.getLeaseUntilMs();
      out.body = std::move(v);
      break;
    }
    case W::TASK_STARTED: {
      auto g = body.getTaskStarted();
      out.body = rec::TaskStarted{TaskId(text(g.getTask(), budget)), g.getAttempt(),
                                  text(g.getWorker(), budget)};
      break;
    }
    case W::TASK_SUCCEEDED: {
      auto g = body.getTaskSucceeded();
      out.body = rec::TaskSucceeded{TaskId(text(g.getTask(), budget)), g.getAttempt(),
                                    text(g.getWorker(), budget), texts(g.getFiles(), budget),
                                    commit_id(g.getCommit(), budget, "task commit"),
                                    commit_id(g.getHead(), budget, "integration head"),
                                    get(g.getUsage()), get(g.getAgent(), budget)};
      break;
    }
    case W::TASK_FAILED: {
      auto g = body.getTaskFailed();
      out.body = rec::TaskFailed{TaskId(text(g.getTask(), budget)), g.getAttempt(),
                                 text(g.getReason(), budget), get(g.getUsage()),
                                 get(g.getAgent(), budget)};
      break;
    }
    case W::TASK_RETRYING: {
      auto g = body.getTaskRetrying();
      out.body = rec::TaskRetrying{TaskId(text(g.getTask(), budget)), g.getNextAttempt(),
                                   g.getNotBeforeMs(), g.getUncharged()};
      break;
    }
    case W::TASK_BLOCKED: {
      auto g = body.getTaskBlocked();
      out.body = rec::TaskBlocked{TaskId(text(g.getTask(), budget)),
                                  TaskId(text(g.getCause(), budget))};
      break;
    }
    case W::TASK_CANCELLED: {
      auto g = body.getTaskCancelled();
      out.body = rec::TaskCancelled{TaskId(text(g.getTask(), budget)), text(g.getReason(), budget)};
      break;
    }
    case W::WORKER_JOINED: {
      auto g = body.getWorkerJoined();
      out.body = rec::WorkerJoined{text(g.getWorker(), budget), g.getSlots(),
                                   text(g.getAddress(), budget)};
      break;
    }
    case W::WORKER_LOST: {
      auto g = body.getWorkerLost();
      out.body = rec::WorkerLost{text(g.getWorker(), budget), text(g.getReason(), budget)};
      break;
    }
    case W::RUN_STOPPED:
      out.body = rec::RunStopped{text(body.getRunStopped().getReason(), budget)};
      break;
    case W::RUN_RESUMED:
      out.body = rec::RunResumed{};
      break;
    case W::RUN_COMPLETED:
      out.body = rec::RunCompleted{enum_value<rec::RunOutcome>(
          body.getRunCompleted().getOutcome(), 2, "run outcome")};
      break;
    case W::PLAN_REVISED: {
      auto g = body.getPlanRevised();
      out.body = rec::PlanRevised{get(g.getPlan(), budget), text(g.getSpecPath(), budget),
                                  text(g.getSpecHash(), budget)};
      break;
    }
    case W::TASKS_REOPENED:
      out.body = rec::TasksReopened{ids<TaskId>(body.getTasksReopened().getTasks(), budget)};
      break;
    default:
      throw Invalid("unknown journal record kind " + std::to_string(static_cast<int>(body.which())) +
                    "; written by a newer br?");
  }
  return out;
}

RunState::Parts get(wire::RunSnapshot::Reader r, Budget& budget) {
  if (r.getSchemaVersion() == 0 || r.getSchemaVersion() > kJournalSchemaVersion) {
    throw Invalid("snapshot schema " + std::to_string(r.getSchemaVersion()) +
                  " is not one this br reads (up to " + std::to_string(kJournalSchemaVersion) +
                  ")");
  }
  RunState::Parts p;
  p.run_id = text(r.getRunId(), budget);
  p.last_seq = r.getLastSeq();
  p.status = enum_value<RunStatus>(r.getStatus(), static_cast<unsigned>(RunStatus::cancelled),
                                   "run status");
  p.plan_seq = r.getPlanSeq();
  p.plan_apart = !r.hasPlan() && p.plan_seq != 0;
  p.has_plan = r.hasPlan() || p.plan_apart;
  if (r.hasPlan()) p.plan = get(r.getPlan(), budget);
  p.spec_path = text(r.getSpecPath(), budget);
  p.spec_hash = text(r.getSpecHash(), budget);
  p.branch = text(r.getBranch(), budget);
  p.base_commit = commit_id(r.getBaseCommit(), budget, "base commit");
  p.head = commit_id(r.getHead(), budget, "integration head");
  p.repo = text(r.getRepo(), budget);
  auto tasks = r.getTasks();
  budget.charge(tasks.size() * sizeof(TaskState));
  p.tasks.reserve(tasks.size());
  for (auto w : tasks) {
    TaskState t;
    t.status = enum_value<TaskStatus>(w.getStatus(), static_cast<unsigned>(TaskStatus::cancelled),
                                      "task status");
    t.attempt = w.getAttempt();
    t.worker = text(w.getWorker(), budget);
    t.batch = BatchId(text(w.getBatch(), budget));
    t.reason = text(w.getReason(), budget);
    t.files = texts(w.getFiles(), budget);
    t.ready_ms = w.getReadyMs();
    t.dispatched_ms = w.getDispatchedMs();
    t.started_ms = w.getStartedMs();
    t.finished_ms = w.getFinishedMs();
    t.lease_until_ms = w.getLeaseUntilMs();
    t.not_before_ms = w.getNotBeforeMs();
    t.commit = commit_id(w.getCommit(), budget, "task commit");
    t.attempt_base = w.getAttemptBase();
    const Usage sum = get(w.getUsage());
    t.usage.attempts = w.getUsageAttempts();
    t.usage.unknown_attempts = w.getUsageUnknown();
    if (t.usage.unknown_attempts > t.usage.attempts) {
      throw Invalid("a task's usage counts more unknown attempts than attempts");
    }
    t.usage.tokens_in = sum.tokens_in;
    t.usage.tokens_out = sum.tokens_out;
    t.usage.cache_write_tokens = sum.cache_write_tokens;
    t.usage.cache_read_tokens = sum.cache_read_tokens;
    t.usage.cost_micro_usd = sum.cost_micro_usd;
    if (t.attempt_base > t.attempt) throw Invalid("a task's attempt base is past its attempt");
    p.tasks.push_back(std::move(t));
  }
  auto workers = r.getWorkers();
  budget.charge(workers.size() * sizeof(WorkerState));
  for (auto w : workers) {
    p.workers.push_back(WorkerState{text(w.getName(), budget), w.getSlots(),
                                    text(w.getAddress(), budget), w.getAlive()});
  }
  return p;
}

template <class Wire, class T>
Result<T> decode_as(std::string_view bytes, const DecodeLimits& limits, const char* what) {
  const auto fail = [&](const std::string& why) {
    return Error::of(std::string(what) + ": " + why);
  };
  if (bytes.empty()) return fail("empty message");
  if (bytes.size() > limits.max_bytes) {
    return fail("message of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                std::to_string(limits.max_bytes) + " bytes");
  }
  if (bytes.size() % sizeof(capnp::word) != 0) {
    return fail("message of " + std::to_string(bytes.size()) +
                " bytes is truncated (not a whole number of 8-byte words)");
  }
  // Cap'n Proto reads words in place, which needs them aligned. Bytes from malloc (a
  // std::string, a RocksDB value) almost always are; the others are copied. A copy of a
  // 39k-task run's snapshot is 34 MB of fresh pages at every restart.
  kj::Array<capnp::word> copy;
  kj::ArrayPtr<const capnp::word> words;
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
    words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()),
                         bytes.size() / sizeof(capnp::word));
  } else {
    copy = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
    std::memcpy(copy.begin(), bytes.data(), bytes.size());
    words = copy.asPtr();
  }

  capnp::ReaderOptions options;
  // Every word of a valid br message is read once; twice that stops amplification attacks.
  options.traversalLimitInWords = 2 * words.size() + 64;
  options.nestingLimit = static_cast<int>(limits.nesting);
  Budget budget(limits.amplification * bytes.size() + 4096, limits.second_thread);
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    return get(reader.getRoot<Wire>(), budget);
  } catch (const kj::Exception& e) {
    return fail("malformed: " + std::string(e.getDescription().cStr()));
  } catch (const Invalid& e) {
    return fail(e.what());
  }
}

}  // namespace

std::string encode(const Feature& v) { return encode_as<wire::Feature>(v); }
std::string encode(const Task& v) { return encode_as<wire::Task>(v); }
std::string encode(const Plan& v) { return encode_as<wire::Plan>(v); }
std::string encode(const Batch& v) { return encode_as<wire::Batch>(v); }
std::string encode(const TaskResult& v) { return encode_as<wire::TaskResult>(v); }
std::string encode(const WorkerHello& v) { return encode_as<wire::WorkerHello>(v); }
std::string encode(const WorkRequest& v) { return encode_as<wire::WorkRequest>(v); }
std::string encode(const TaskProgress& v) { return encode_as<wire::TaskProgress>(v); }
std::string encode(const HelloReply& v) { return encode_as<wire::HelloReply>(v); }
std::string encode(const ReadyTasks& v) { return encode_as<wire::ReadyTasks>(v); }
std::string encode(const ObjectsRequest& v) { return encode_as<wire::ObjectsRequest>(v); }
std::string encode(const ObjectsChunk& v) { return encode_as<wire::ObjectsChunk>(v); }
std::string encode(const JournalRecord& v) { return encode_as<wire::JournalRecord>(v); }

template <>
Result<Feature> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::Feature, Feature>(b, l, "Feature");
}
template <>
Result<Task> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::Task, Task>(b, l, "Task");
}
template <>
Result<Plan> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::Plan, Plan>(b, l, "Plan");
}
template <>
Result<Batch> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::Batch, Batch>(b, l, "Batch");
}
template <>
Result<TaskResult> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::TaskResult, TaskResult>(b, l, "TaskResult");
}
template <>
Result<WorkerHello> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::WorkerHello, WorkerHello>(b, l, "WorkerHello");
}
template <>
Result<WorkRequest> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::WorkRequest, WorkRequest>(b, l, "WorkRequest");
}
template <>
Result<TaskProgress> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::TaskProgress, TaskProgress>(b, l, "TaskProgress");
}
template <>
Result<HelloReply> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::HelloReply, HelloReply>(b, l, "HelloReply");
}
template <>
Result<ReadyTasks> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::ReadyTasks, ReadyTasks>(b, l, "ReadyTasks");
}
template <>
Result<ObjectsRequest> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::ObjectsRequest, ObjectsRequest>(b, l, "ObjectsRequest");
}
template <>
Result<ObjectsChunk> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::ObjectsChunk, ObjectsChunk>(b, l, "ObjectsChunk");
}
template <>
Result<JournalRecord> decode(std::string_view b, const DecodeLimits& l) {
  return decode_as<wire::JournalRecord, JournalRecord>(b, l, "JournalRecord");
}

std::string encode_plan_part(const Plan& plan, std::size_t first, std::size_t n) {
  first = std::min(first, plan.tasks.size());
  n = std::min(n, plan.tasks.size() - first);
  return encode_with<wire::Plan>([&](wire::Plan::Builder b) {
    if (first == 0) {
      b.setTitle(text_of(plan.title));
      b.setOverview(text_of(plan.overview));
      auto features = b.initFeatures(count(plan.features.size()));
      for (unsigned i = 0; i < plan.features.size(); ++i) put(features[i], plan.features[i]);
    }
    auto tasks = b.initTasks(count(n));
    for (unsigned i = 0; i < n; ++i) put(tasks[i], plan.tasks[first + i]);
  });
}

std::string encode_snapshot(const RunState& state, bool plan_apart) {
  if (plan_apart && state.plan_seq() == 0) plan_apart = false;  // nothing to name it by
  return encode_with<wire::RunSnapshot>(
      [&](wire::RunSnapshot::Builder b) { put(b, state, plan_apart); });
}

Result<RunState::Parts> decode_snapshot_parts(std::string_view bytes,
                                              const DecodeLimits& limits) {
  return decode_as<wire::RunSnapshot, RunState::Parts>(bytes, limits, "RunSnapshot");
}

Result<RunState> decode_snapshot(std::string_view bytes, const DecodeLimits& limits) {
  auto parts = decode_snapshot_parts(bytes, limits);
  if (!parts) return parts.error();
  if (parts->plan_apart) {
    return Error::of("RunSnapshot: its plan is stored apart (record " +
                     std::to_string(parts->plan_seq) + ")");
  }
  auto state = RunState::restore(std::move(parts).value());
  if (!state) return Error::of("RunSnapshot: " + state.error().str());
  return state;
}

}  // namespace br
