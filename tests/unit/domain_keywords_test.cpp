// The keyword matcher against the plain definition it replaced: split into lower-case words
// of ASCII letters and digits, then look each word up in the table.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "actors/planner/domain_keywords.hpp"

using namespace br;

namespace {

struct Word {
  std::string text;
  std::string before;  // the separators since the previous word
};

std::vector<Word> reference_words(std::string_view text) {
  std::vector<Word> words;
  Word word;
  for (char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      word.text += c;
    } else if (c >= 'A' && c <= 'Z') {
      word.text += static_cast<char>(c - 'A' + 'a');
    } else if (!word.text.empty()) {
      words.push_back(std::move(word));
      word = Word{};
      word.before += c;
    } else {
      word.before += c;
    }
  }
  if (!word.text.empty()) words.push_back(std::move(word));
  return words;
}

DomainSet reference_set(const std::string& word) {
  DomainSet set = 0;
  for (const auto& k : domain_keywords()) {
    if (std::find(k.words.begin(), k.words.end(), word) != k.words.end()) {
      set = static_cast<DomainSet>(set | domain_bit(k.domain));
    }
  }
  return set;
}

// Every keyword counts, except one that only spaces separate from a next keyword of other
// domains (a modifier: "monitoring page").
std::vector<Domain> reference_domains(std::string_view text) {
  const auto words = reference_words(text);
  DomainSet found = 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const DomainSet mine = reference_set(words[i].text);
    if (i + 1 < words.size()) {
      const DomainSet next = reference_set(words[i + 1].text);
      const std::string& gap = words[i + 1].before;
      const bool spaces = !gap.empty() && gap.find_first_not_of(' ') == std::string::npos;
      if (spaces && mine != 0 && next != 0 && (mine & next) == 0) continue;
    }
    found = static_cast<DomainSet>(found | mine);
  }
  std::vector<Domain> out;
  for (const auto& k : domain_keywords()) {
    if (found & domain_bit(k.domain)) out.push_back(k.domain);
  }
  return out;
}

// Text made of keywords (some upper-cased, some glued to others or cut short), near misses
// and separators of every kind, UTF-8 included.
std::string random_text(std::mt19937& rng) {
  std::vector<std::string> pieces = {"tablet", "api2", "x", "reststop", "d", "b",
                                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaadatabase"};
  for (const auto& k : domain_keywords()) {
    for (auto w : k.words) pieces.emplace_back(w);
  }
  static const char* kSeparators[] = {" ", "", "-", "_", ".", "\n", "\t", "/", "é", "🔴", "'",
                                      "(", "0", "\x7f", ":"};
  std::string out;
  const std::size_t n = rng() % 12;
  for (std::size_t i = 0; i < n; ++i) {
    std::string piece = pieces[rng() % pieces.size()];
    if (rng() % 4 == 0) std::transform(piece.begin(), piece.end(), piece.begin(), ::toupper);
    if (rng() % 6 == 0 && piece.size() > 1) piece.resize(piece.size() - 1);
    out += piece;
    out += kSeparators[rng() % (sizeof kSeparators / sizeof kSeparators[0])];
  }
  return out;
}

}  // namespace

TEST_CASE("keyword matching finds the domains the plain word-by-word definition finds") {
  std::mt19937 rng(12);
  for (int i = 0; i < 20000; ++i) {
    const std::string text = random_text(rng);
    INFO(text);
    const auto expected = reference_domains(text);
    REQUIRE(detect_domains(text) == expected);
    for (Domain d : {Domain::database, Domain::backend, Domain::api, Domain::ui, Domain::infra,
                     Domain::tests, Domain::docs}) {
      const bool in = std::find(expected.begin(), expected.end(), d) != expected.end();
      REQUIRE(mentions(text, d) == in);
    }
  }
}

TEST_CASE("every keyword matches alone, in any case, and not as part of a longer word") {
  for (const auto& k : domain_keywords()) {
    for (std::string_view w : k.words) {
      const std::string word(w);
      INFO(word);
      std::string upper = word;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      CHECK(mentioned_domains(word) == domain_bit(k.domain));
      CHECK(mentioned_domains("(" + upper + ")") == domain_bit(k.domain));
      CHECK(mentioned_domains(word + "x") == 0);
      CHECK(mentioned_domains("x" + word) == 0);
      CHECK(mentioned_domains(word + "1") == 0);
    }
  }
}

TEST_CASE("a keyword right before one of another domain modifies it and does not count") {
  CHECK(detect_domains("Main monitoring page with a layout") == std::vector<Domain>{Domain::ui});
  CHECK(detect_domains("Set up monitoring for the page") ==
        std::vector<Domain>{Domain::ui, Domain::infra});
  CHECK(detect_domains("A SQL table") == std::vector<Domain>{Domain::database});
  CHECK(detect_domains("monitoring, page") == std::vector<Domain>{Domain::ui, Domain::infra});
  CHECK(detect_domains("A deployment dashboard") == std::vector<Domain>{Domain::ui});
}

TEST_CASE("the set of a text is the union of the sets of its lines") {
  CHECK(mentioned_domains("a sql\ntable view") ==
        (domain_bit(Domain::database) | domain_bit(Domain::ui)));
  CHECK(mentioned_domains("") == 0);
  CHECK(mentioned_domains(std::string(100, 'a') + " api") == domain_bit(Domain::api));
}
