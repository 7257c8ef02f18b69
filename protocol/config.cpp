#include "protocol/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>

#include "protocol/bounded_read.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/name_matching.hpp"
#include "protocol/usage.hpp"

namespace br {
namespace {

// Reads one table of the config, checking every key against the ones it knows.
class Section {
 public:
  Section(const toml::table& root, const std::string& name, const std::string& path,
          std::vector<Diagnostic>& errors)
      : Section(root.get(name), name, path, errors) {}

  // A table inside another ([agent.simple]): `name` is its dotted name, for messages.
  Section(const toml::node* node, std::string name, const std::string& path,
          std::vector<Diagnostic>& errors)
      : name_(std::move(name)), path_(path), errors_(errors) {
    if (node) {
      table_ = node->as_table();
      if (!table_) error(*node, "[" + name_ + "] must be a table");
    }
  }

  const toml::table* table() const { return table_; }
  const toml::node* node(const char* key) const { return find(key); }

  void error_at(const toml::node& node, std::string message) { error(node, std::move(message)); }

  // Call after reading every key: anything left is unknown.
  void reject_unknown(const std::vector<std::string>& known) {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      const std::string k(key.str());
      if (std::find(known.begin(), known.end(), k) != known.end()) continue;
      std::string message = "unknown key '" + name_ + "." + k + "'";
      std::string best;
      std::size_t best_distance = 3;
      for (const auto& candidate : known) {
        const std::size_t d = edit_distance(k, candidate);
        if (d < best_distance) best_distance = d, best = candidate;
      }
      if (!best.empty()) message += " (did you mean '" + name_ + "." + best + "'?)";
      else message += "; known keys: " + join(known);
      error(node, message);
    }
  }

  template <class Int>
  void integer(const char* key, Int& out, std::int64_t min, std::int64_t max) {
    const toml::node* node = find(key);
    if (!node) return;
    auto v = node->value<std::int64_t>();
    if (!node->is_integer() || !v || *v < min || *v > max) {
      error(*node, full(key) + ": expected an integer from " + std::to_string(min) + " to " +
                       std::to_string(max));
      return;
    }
    out = static_cast<Int>(*v);
  }

  void boolean(const char* key, bool& out) {
    std::optional<bool> v;
    boolean(key, v);
    if (v) out = *v;
  }

  // Left unset when the key is absent, for settings whose default depends on where br runs.
  void boolean(const char* key, std::optional<bool>& out) {
    const toml::node* node = find(key);
    if (!node) return;
    if (!node->is_boolean()) {
      error(*node, full(key) + ": expected true or false");
      return;
    }
    out = *node->value<bool>();
  }

  void fraction(const char* key, double& out) {
    const toml::node* node = find(key);
    if (!node) return;
    auto v = node->value<double>();
    if (!v || !(*v >= 0.0 && *v <= 1.0)) {
      error(*node, full(key) + ": expected a number from 0 to 1");
      return;
    }
    out = *v;
  }

  // Dollars as a TOML number (integer or float) → micro-USD; 0 and absent mean no limit.
  void dollars(const char* key, std::uint64_t& out) {
    const toml::node* node = find(key);
    if (!node) return;
    auto v = node->value<double>();
    const auto micro = v ? micro_usd_from_double(*v) : std::nullopt;
    if (!node->is_number() || !micro) {
      error(*node, full(key) + ": expected an amount of US dollars, e.g. 5 or 2.50 (0: no limit)");
      return;
    }
    out = *micro;
  }

  void string(const char* key, std::string& out, const std::vector<std::string>& allowed = {}) {
    const toml::node* node = find(key);
    if (!node) return;
    auto v = node->value<std::string>();
    if (!node->is_string() || !v) {
      error(*node, full(key) + ": expected a string");
      return;
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
      error(*node, full(key) + ": '" + *v + "' is not one of " + join(allowed));
      return;
    }
    out = *v;
  }

  // HOST:PORT with a port from 0 to 65535 (0: any free port); empty is left empty.
  void address(const char* key, std::string& out) {
    const toml::node* node = find(key);
    std::string v;
    string(key, v);
    if (!node || v.empty()) return;
    if (!parse_endpoint(v, PortZero::allowed)) {
      error(*node, full(key) + ": '" + v + "' is not HOST:PORT, e.g. \"127.0.0.1:9464\"");
      return;
    }
    out = v;
  }

  void strings(const char* key, std::vector<std::string>& out, bool non_empty) {
    const toml::node* node = find(key);
    if (!node) return;
    const toml::array* array = node->as_array();
    std::vector<std::string> values;
    bool ok = array != nullptr;
    if (ok) {
      for (const auto& item : *array) {
        auto s = item.value<std::string>();
        if (!item.is_string() || !s) {
          ok = false;
          break;
        }
        values.push_back(*s);
      }
    }
    if (!ok) {
      error(*node, full(key) + ": expected an array of strings, e.g. [\"make\", \"check\"]");
      return;
    }
    if (non_empty && values.empty()) {
      error(*node, full(key) + ": must not be empty");
      return;
    }
    if (!values.empty() && values.front().empty()) {
      error(*node, full(key) + ": its first word, the program to run, is empty");
      return;
    }
    out = std::move(values);
  }

  // A shared secret: empty (none) or at least kMinTokenLength characters.
  void token(const char* key, std::string& out) {
    std::string value;
    string(key, value);
    if (!value.empty() && value.size() < kMinTokenLength) {
      error(*find(key), full(key) + ": a token needs at least " +
                            std::to_string(kMinTokenLength) +
                            " characters (make one with `openssl rand -hex 16`)");
      return;
    }
    out = std::move(value);
  }

  // `positive`: 0 is refused (a time limit of nothing would fail every attempt).
  void duration(const char* key, std::int64_t& out, bool positive = false) {
    const toml::node* node = find(key);
    if (!node) return;
    Result<std::int64_t> ms = Error::of("");
    if (node->is_integer()) ms = parse_duration_ms(std::to_string(*node->value<std::int64_t>()));
    else if (node->is_string()) ms = parse_duration_ms(*node->value<std::string>());
    if (!ms) {
      error(*node, full(key) + ": expected a duration such as 90 (seconds), \"250ms\", \"90s\", "
                               "\"30m\" or \"2h\"");
      return;
    }
    if (positive && *ms <= 0) {
      error(*node, full(key) + ": must be more than 0, e.g. \"30m\"");
      return;
    }
    out = *ms;
  }

 private:
  const toml::node* find(const char* key) const { return table_ ? table_->get(key) : nullptr; }
  std::string full(const char* key) const { return name_ + "." + key; }

  void error(const toml::node& node, std::string message) {
    errors_.push_back(Diagnostic{path_, static_cast<std::uint32_t>(node.source().begin.line),
                                 std::move(message)});
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  std::string name_;
  const std::string& path_;
  std::vector<Diagnostic>& errors_;
  const toml::table* table_ = nullptr;
};

AgentOutput agent_output(const std::string& name) {
  return name == "claude-json"  ? AgentOutput::claude_json
         : name == "codex-json" ? AgentOutput::codex_json
                                : AgentOutput::text;
}

// The keys a route table may set; the rest of [agent] (env, budgets) is the run's, not a
// route's.
AgentOverride parse_override(Section& table) {
  AgentOverride out;
  std::vector<std::string> command;
  table.strings("command", command, /*non_empty=*/true);
  if (!command.empty()) out.command = std::move(command);
  std::string output;
  table.string("output", output, {"text", "claude-json", "codex-json"});
  if (!output.empty()) out.output = agent_output(output);
  std::int64_t timeout_ms = -1;
  table.duration("timeout", timeout_ms, /*positive=*/true);
  if (timeout_ms > 0) out.timeout_ms = timeout_ms;
  table.reject_unknown({"command", "output", "timeout"});
  return out;
}

// [agent.simple], [agent.medium], [agent.complex] and [agent.domains.NAME].
void parse_routes(Section& agent, AgentConfig& config, const std::string& path,
                  std::vector<Diagnostic>& errors) {
  if (!agent.table()) return;
  for (Complexity c : {Complexity::simple, Complexity::medium, Complexity::complex}) {
    const std::string key(to_string(c));
    const toml::node* node = agent.node(key.c_str());
    if (!node) continue;
    Section table(node, "agent." + key, path, errors);
    if (table.table()) config.by_complexity[c] = parse_override(table);
  }
  Section domains(agent.node("domains"), "agent.domains", path, errors);
  if (!domains.table()) return;
  // In file order, so that of two tables for one domain (ui and its alias frontend) the later
  // one is refused; toml++ iterates by key.
  std::vector<std::pair<std::string, const toml::node*>> entries;
  for (const auto& [key, node] : *domains.table()) entries.emplace_back(key.str(), &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.second->source().begin.line < b.second->source().begin.line;
  });
  for (const auto& [name, entry] : entries) {
    const toml::node& node = *entry;
    const auto domain = parse_domain(name);
    if (!domain) {
      domains.error_at(node, "agent.domains." + name +
                                 ": not a domain; domains are database, backend, api, ui "
                                 "(or frontend), infra, tests, docs");
      continue;
    }
    if (config.by_domain.count(*domain) != 0) {
      domains.error_at(node, "agent.domains." + name + ": a second table for domain " +
                                 std::string(to_string(*domain)) + " (one of them is an alias)");
      continue;
    }
    Section table(&node, "agent.domains." + name, path, errors);
    if (table.table()) config.by_domain[*domain] = parse_override(table);
  }
}

// A command's program given as a path ("deploy/demo-agent") is relative to the config file;
// a bare name ("claude") is looked up on PATH when run.
void resolve_program(std::vector<std::string>& argv, const std::string& base_dir) {
  if (argv.empty() || base_dir.empty()) return;
  const std::filesystem::path program(argv[0]);
  if (program.is_relative() && argv[0].find('/') != std::string::npos) {
    argv[0] = (std::filesystem::path(base_dir) / program).lexically_normal().string();
  }
}

}  // namespace

Result<std::int64_t> parse_duration_ms(std::string_view text) {
  std::size_t i = 0;
  std::int64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (value > 1'000'000'000) return Error::of("duration too large");
    value = value * 10 + (text[i] - '0');
    ++i;
  }
  if (i == 0) return Error::of("duration must start with a number");
  const std::string_view unit = text.substr(i);
  if (unit.empty() || unit == "s") return value * 1000;
  if (unit == "ms") return value;
  if (unit == "m") return value * 60 * 1000;
  if (unit == "h") return value * 3600 * 1000;
  return Error::of("unknown duration unit '" + std::string(unit) + "'");
}

Result<Config> parse_config(std::string_view text, const std::string& path,
                            const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Error::at(path, static_cast<std::uint32_t>(e.source().begin.line),
                     std::string(e.description()));
  }

  Config config;
  config.path = path;
  std::vector<Diagnostic> errors;
  const std::vector<std::string> sections = {"run", "agent", "verify", "context", "network",
                                             "limits", "journal", "metrics"};
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    if (std::find(sections.begin(), sections.end(), k) == sections.end()) {
      errors.push_back(Diagnostic{path, static_cast<std::uint32_t>(node.source().begin.line),
                                  "unknown section '" + k +
                                      "'; known sections: run, agent, verify, context, network, "
                                      "limits, journal, metrics"});
    }
  }

  Section run(root, "run", path, errors);
  run.integer("workers", config.run.workers, 1, 1024);
  run.string("strategy", config.run.strategy, {"critical-path", "priority", "shortest"});
  run.integer("max_attempts", config.run.max_attempts, 1, 100);
  run.duration("backoff_base", config.run.backoff_base_ms);
  run.duration("backoff_max", config.run.backoff_max_ms);
  run.fraction("backoff_jitter", config.run.backoff_jitter);
  run.duration("lease", config.run.lease_ms);
  run.integer("batch_max_tasks", config.run.batch_max_tasks, 1, 3);
  run.integer("batch_max_minutes", config.run.batch_max_minutes, 60, 240);
  run.string("workspace", config.run.workspace);
  run.string("keep_succeeded", config.run.keep_succeeded, {"all", "logs", "none"});
  run.string("isolation", config.run.isolation, {"worktree", "none"});
  run.string("branch", config.run.branch);
  run.reject_unknown({"workers", "strategy", "max_attempts", "backoff_base", "backoff_max",
                      "backoff_jitter", "lease", "batch_max_tasks", "batch_max_minutes",
                      "workspace", "keep_succeeded", "isolation", "branch"});

  Section agent(root, "agent", path, errors);
  agent.strings("command", config.agent.command, /*non_empty=*/true);
  agent.duration("timeout", config.agent.timeout_ms, /*positive=*/true);
  agent.strings("env", config.agent.env_allow, false);
  std::string output = "text";
  agent.string("output", output, {"text", "claude-json", "codex-json"});
  config.agent.output = agent_output(output);
  agent.dollars("max_cost_usd", config.agent.max_cost_micro_usd);
  agent.dollars("max_cost_per_task_usd", config.agent.max_cost_per_task_micro_usd);
  parse_routes(agent, config.agent, path, errors);
  agent.reject_unknown({"command", "timeout", "env", "output", "max_cost_usd",
                        "max_cost_per_task_usd", "simple", "medium", "complex", "domains"});

  Section verify(root, "verify", path, errors);
  verify.strings("check_command", config.verify.check_command, false);
  verify.strings("test_command", config.verify.test_command, false);
  verify.duration("timeout", config.verify.timeout_ms, /*positive=*/true);
  verify.duration("file_wait", config.verify.file_wait_ms);
  verify.boolean("require_checks", config.verify.require_checks);
  verify.boolean("allow_run_criteria", config.verify.allow_run_criteria);
  verify.reject_unknown({"check_command", "test_command", "timeout", "file_wait", "require_checks",
                         "allow_run_criteria"});

  Section context(root, "context", path, errors);
  context.integer("token_budget", config.context.token_budget, 500, 1000000);
  context.reject_unknown({"token_budget"});

  Section network(root, "network", path, errors);
  network.string("listen", config.network.listen);
  network.token("token", config.network.token);
  network.string("tls_cert", config.network.tls_cert);
  network.string("tls_key", config.network.tls_key);
  network.string("tls_ca", config.network.tls_ca);
  network.string("tls_peer_name", config.network.tls_peer_name);
  network.integer("max_connections", config.network.max_connections, 1, 65536);
  network.duration("hello_timeout", config.network.hello_timeout_ms, /*positive=*/true);
  network.integer("max_pending", config.network.max_pending, 1, 65536);
  network.reject_unknown({"listen", "token", "tls_cert", "tls_key", "tls_ca", "tls_peer_name",
                          "max_connections", "hello_timeout", "max_pending"});

  Section limits(root, "limits", path, errors);
  limits.integer("spec_max_bytes", config.limits.spec_max_bytes, 1024, std::int64_t{1} << 32);
  limits.integer("max_tasks", config.limits.max_tasks, 1, 10'000'000);
  limits.integer("message_max_bytes", config.limits.message_max_bytes, 4096,
                 std::int64_t{1} << 30);
  limits.integer("agent_output_max_bytes", config.limits.agent_output_max_bytes, 4096,
                 std::int64_t{1} << 40);
  limits.integer("change_max_bytes", config.limits.change_max_bytes, 1024,
                 std::int64_t{1} << 30);
  limits.reject_unknown({"spec_max_bytes", "max_tasks", "message_max_bytes",
                         "agent_output_max_bytes", "change_max_bytes"});
  if (config.limits.change_max_bytes + std::uint64_t{64} * 1024 > config.limits.message_max_bytes) {
    errors.push_back(Diagnostic{path, 0,
                                "limits.change_max_bytes must leave 64 KiB of "
                                "limits.message_max_bytes for the rest of a result"});
  }

  Section journal(root, "journal", path, errors);
  journal.integer("snapshot_every", config.journal.snapshot_every, 0, 1'000'000'000);
  journal.boolean("compact", config.journal.compact);
  journal.reject_unknown({"snapshot_every", "compact"});

  Section metrics(root, "metrics", path, errors);
  metrics.address("listen", config.metrics.listen);
  metrics.duration("linger", config.metrics.linger_ms);
  metrics.reject_unknown({"listen", "linger"});

  if (config.run.backoff_max_ms < config.run.backoff_base_ms) {
    errors.push_back(Diagnostic{path, 0, "run.backoff_max must not be below run.backoff_base"});
  }
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
    return Error{std::move(errors)};
  }
  resolve_program(config.agent.command, base_dir);
  for (auto& [domain, route] : config.agent.by_domain) {
    if (route.command) resolve_program(*route.command, base_dir);
  }
  for (auto& [complexity, route] : config.agent.by_complexity) {
    if (route.command) resolve_program(*route.command, base_dir);
  }
  resolve_program(config.verify.check_command, base_dir);
  resolve_program(config.verify.test_command, base_dir);
  for (std::string* file : {&config.network.tls_cert, &config.network.tls_key,
                            &config.network.tls_ca}) {
    if (!file->empty() && !base_dir.empty() && std::filesystem::path(*file).is_relative()) {
      *file = (std::filesystem::path(base_dir) / *file).lexically_normal().string();
    }
  }
  if (!base_dir.empty() && std::filesystem::path(config.run.workspace).is_relative()) {
    config.run.workspace =
        (std::filesystem::path(base_dir) / config.run.workspace).lexically_normal().string();
  }
  return config;
}

bool allows_run_criteria(const VerifyConfig& config, VerifyingHost host) {
  return config.allow_run_criteria.value_or(host == VerifyingHost::local);
}

Result<Config> load_config(const std::string& path) {
  constexpr std::size_t kMaxConfigBytes = 1 << 20;
  auto text = read_at_most(path, kMaxConfigBytes);
  if (!text) {
    const std::string why = not_an_input_file(path);
    if (why.empty() || why == kNoSuchFile) {
      return Error::of(path + ": cannot read the config file (does it exist?)");
    }
    return Error::of(path + ": cannot read the config file: " + why);
  }
  if (text->size() > kMaxConfigBytes) {
    return Error::of(path + ": config file larger than 1 MiB; is this the right file?");
  }
  auto base = std::filesystem::absolute(path).parent_path().string();
  return parse_config(*text, path, base);
}

}  // namespace br
