#include "actors/planner/domain_keywords.hpp"

#include <array>
#include <cstddef>

namespace br {
namespace {

// The keywords in an open-addressing hash table, built once: a word of the text costs one
// hash and usually one comparison, where scanning the table cost ~100 comparisons (that scan,
// with a std::string per word, was most of the time of planning a 100k-feature spec).
class KeywordIndex {
 public:
  static constexpr std::size_t kMaxWord = 16;  // longer than every keyword

  KeywordIndex() {
    for (const auto& k : domain_keywords()) {
      for (std::string_view w : k.words) {
        std::size_t slot = hash(w) & kMask;
        while (!keys_[slot].empty() && keys_[slot] != w) slot = (slot + 1) & kMask;
        keys_[slot] = w;
        sets_[slot] = static_cast<DomainSet>(sets_[slot] | domain_bit(k.domain));
      }
    }
  }

  // `word` is lower case, at most kMaxWord bytes.
  DomainSet find(std::string_view word) const {
    for (std::size_t slot = hash(word) & kMask;; slot = (slot + 1) & kMask) {
      if (keys_[slot].empty()) return 0;
      if (keys_[slot] == word) return sets_[slot];
    }
  }

 private:
  static constexpr std::size_t kSlots = 512;  // a power of two, over 4× the keyword count
  static constexpr std::size_t kMask = kSlots - 1;

  static std::size_t hash(std::string_view w) {
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (char c : w) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    return h;
  }

  std::array<std::string_view, kSlots> keys_{};
  std::array<DomainSet, kSlots> sets_{};
};

const KeywordIndex& keyword_index() {
  static const KeywordIndex kIndex;
  return kIndex;
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

DomainSet mentioned_domains(std::string_view text) {
  const KeywordIndex& index = keyword_index();
  DomainSet found = 0;
  // The last word's domains, counted once the next word shows it is not a modifier.
  DomainSet pending = 0;
  bool adjacent = false;  // only spaces since the last word ended
  char word[KeywordIndex::kMaxWord];
  std::size_t length = 0;  // of the current word; kMaxWord + 1 once it is too long to match
  const auto end_word = [&] {
    if (length == 0) return;
    const DomainSet mine = length <= KeywordIndex::kMaxWord
                               ? index.find(std::string_view(word, length))
                               : DomainSet{0};
    // "monitoring page": a keyword right before one of another domain only says what the
    // second is about; the work is the second's (a page, not monitoring infrastructure).
    const bool modifier = adjacent && pending != 0 && mine != 0 && (mine & pending) == 0;
    if (!modifier) found = static_cast<DomainSet>(found | pending);
    pending = mine;
    adjacent = true;
    length = 0;
  };
  for (char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      if (length < KeywordIndex::kMaxWord) word[length] = c;
      if (length <= KeywordIndex::kMaxWord) ++length;
    } else if (c >= 'A' && c <= 'Z') {
      if (length < KeywordIndex::kMaxWord) word[length] = static_cast<char>(c - 'A' + 'a');
      if (length <= KeywordIndex::kMaxWord) ++length;
    } else {
      end_word();
      if (c != ' ') adjacent = false;
    }
  }
  end_word();
  return static_cast<DomainSet>(found | pending);
}

std::vector<Domain> detect_domains(std::string_view text) {
  const DomainSet found = mentioned_domains(text);
  std::vector<Domain> out;
  for (const auto& k : domain_keywords()) {
    if (found & domain_bit(k.domain)) out.push_back(k.domain);
  }
  return out;
}

bool mentions(std::string_view text, Domain domain) {
  return (mentioned_domains(text) & domain_bit(domain)) != 0;
}

}  // namespace br
