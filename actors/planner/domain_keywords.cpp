#include "actors/planner/domain_keywords.hpp"

#include <algorithm>
#include <string>

namespace br {
namespace {

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      word += c;
    } else if (c >= 'A' && c <= 'Z') {
      word += static_cast<char>(c - 'A' + 'a');
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

bool any_of_words(const std::vector<std::string>& words, const DomainKeywords& k) {
  for (const auto& w : words) {
    if (std::find(k.words.begin(), k.words.end(), w) != k.words.end()) return true;
  }
  return false;
}

}  // namespace

const std::vector<DomainKeywords>& domain_keywords() {
  static const std::vector<DomainKeywords> kTable = {
      {Domain::database,
       {"database", "db", "schema", "schemas", "table", "tables", "migration", "migrations",
        "sql", "sqlite", "postgres", "postgresql", "mysql", "mongodb", "index", "indexes",
        "query", "queries", "orm", "persistence", "persist", "stored", "storage"}},
      {Domain::backend,
       {"backend", "service", "services", "logic", "business", "server", "engine", "worker",
        "validation", "validate", "parser", "parse", "algorithm", "calculate", "process",
        "processing", "module", "library", "cli", "command", "scheduler", "manager", "model",
        "models"}},
      {Domain::api,
       {"api", "apis", "endpoint", "endpoints", "rest", "graphql", "route", "routes", "http",
        "webhook", "webhooks", "grpc", "websocket", "request", "requests", "json"}},
      {Domain::ui,
       {"ui", "page", "pages", "component", "components", "form", "forms", "dashboard", "button",
        "buttons", "view", "views", "screen", "screens", "frontend", "react", "modal", "layout",
        "css", "html", "display", "panel", "sidebar", "canvas", "terminal", "widget"}},
      {Domain::infra,
       {"deploy", "deployment", "docker", "kubernetes", "terraform", "ci", "infrastructure",
        "monitoring", "hosting", "nginx", "systemd"}},
  };
  return kTable;
}

std::vector<Domain> detect_domains(std::string_view text) {
  const auto words = words_of(text);
  std::vector<Domain> out;
  for (const auto& k : domain_keywords()) {
    if (any_of_words(words, k)) out.push_back(k.domain);
  }
  return out;
}

bool mentions(std::string_view text, Domain domain) {
  const auto words = words_of(text);
  for (const auto& k : domain_keywords()) {
    if (k.domain == domain) return any_of_words(words, k);
  }
  return false;
}

}  // namespace br
