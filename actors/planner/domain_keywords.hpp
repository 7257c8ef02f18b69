// The one table of words that tell which kinds of work a feature needs. Matching is on whole
// lower-case words of the title, description, requirements and technical details.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "protocol/model.hpp"

namespace br {

struct DomainKeywords {
  Domain domain;
  std::vector<std::string_view> words;
};

// Implementation domains in dependency order (database → backend → api → ui → infra).
const std::vector<DomainKeywords>& domain_keywords();

// A set of domains: bit (1 << Domain) for each.
using DomainSet = std::uint8_t;
constexpr DomainSet domain_bit(Domain d) {
  return static_cast<DomainSet>(1u << static_cast<unsigned>(d));
}

// The implementation domains whose words `text` contains. A word is a run of ASCII letters
// and digits (letters lowered); every other byte separates words, so the set of a text is the
// union of the sets of its lines. A keyword followed, after only spaces, by a keyword of
// other domains modifies it and does not count ("monitoring page" is UI, not infra; "SQL
// table" stays database). One pass, no allocation: the decomposer asks this of every
// requirement line of every feature.
DomainSet mentioned_domains(std::string_view text);

// Which implementation domains `text` mentions, in dependency order.
std::vector<Domain> detect_domains(std::string_view text);

// Does `text` mention any word of `domain`?
bool mentions(std::string_view text, Domain domain);

}  // namespace br
