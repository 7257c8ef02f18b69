// The one table of words that tell which kinds of work a feature needs. Matching is on whole
// lower-case words of the title, description, requirements and technical details.
#pragma once

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

// Which implementation domains `text` mentions, in dependency order.
std::vector<Domain> detect_domains(std::string_view text);

// Does `text` mention any word of `domain`?
bool mentions(std::string_view text, Domain domain);

}  // namespace br
