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

std::vector<std::string> reference_words(std::string_view text) {
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

std::vector<Domain> reference_domains(std::string_view text) {
  const auto words = reference_words(text);
  std::vector<Domain> out;
  for (const auto& k : domain_keywords()) {
    const bool any = std::any_of(words.begin(), words.end(), [&](const std::string& w) {
      return std::find(k.words.begin(), k.words.end(), w) != k.words.end();
    });
    if (any) out.push_back(k.domain);
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

TEST_CASE("the set of a text is the union of the sets of its lines") {
  CHECK(mentioned_domains("a sql\ntable view") ==
        (domain_bit(Domain::database) | domain_bit(Domain::ui)));
  CHECK(mentioned_domains("") == 0);
  CHECK(mentioned_domains(std::string(100, 'a') + " api") == domain_bit(Domain::api));
}
