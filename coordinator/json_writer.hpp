// Writes a document as it is produced, through a buffer, instead of building it whole first:
// `br plan --json` of a 100k-feature spec is ~250 MB of text, which as an nlohmann::json tree
// and then one string took several times the memory of the plan itself.
//
// JsonWriter lays documents out as nlohmann's dump(2), byte for byte, so they read as they
// did when they were built as a DOM: two-space indent, `"key": value`, `[]` and `{}` when
// empty, strings UTF-8 with only `"`, `\` and control characters escaped (\u00XX in lower-case
// hex). Invalid UTF-8 (which dump() throws on) is written as U+FFFD, one per bad byte. Keys are
// written in the order given: callers give them sorted, as nlohmann's objects are.
#pragma once

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "protocol/utf8.hpp"

namespace br {

// Bytes on their way to a FILE* (or, for tests, a string), written out 64 KiB at a time.
class OutputBuffer {
 public:
  explicit OutputBuffer(std::FILE* out) : file_(out) {}
  explicit OutputBuffer(std::string& out) : text_(&out) {}
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;
  ~OutputBuffer() { flush(); }

  void append(const char* bytes, std::size_t n) {
    if (n == 0) return;  // bytes may then be null, which memcpy must not see
    if (n > kBytes - used_) {
      flush();
      if (n >= kBytes) return write(bytes, n);
    }
    std::memcpy(data_.get() + used_, bytes, n);
    used_ += n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void push(char c) {
    if (used_ == kBytes) flush();
    data_[used_++] = c;
  }
  void spaces(std::size_t n) {
    static constexpr char kSpaces[] = "                                                        ";
    for (; n > sizeof kSpaces - 1; n -= sizeof kSpaces - 1) append(kSpaces, sizeof kSpaces - 1);
    append(kSpaces, n);
  }
  template <class... Args>
  void format(fmt::format_string<Args...> format, Args&&... args) {
    scratch_.clear();
    fmt::format_to(fmt::appender(scratch_), format, std::forward<Args>(args)...);
    append(scratch_.data(), scratch_.size());
  }

  void flush() {
    write(data_.get(), used_);
    used_ = 0;
  }

  static constexpr std::size_t kBytes = std::size_t{1} << 16;

  // Room for n <= kBytes more bytes, written in place and then committed with the end of
  // what was written: one bounds check for a whole piece instead of one per append.
  char* room(std::size_t n) {
    if (n > kBytes - used_) flush();
    return data_.get() + used_;
  }
  void commit(const char* end) { used_ = static_cast<std::size_t>(end - data_.get()); }

 private:
  void write(const char* bytes, std::size_t n) {
    if (n == 0) return;
    if (file_) std::fwrite(bytes, 1, n, file_);
    if (text_) text_->append(bytes, n);
  }

  std::FILE* file_ = nullptr;
  std::string* text_ = nullptr;
  std::unique_ptr<char[]> data_{new char[kBytes]};
  std::size_t used_ = 0;
  fmt::memory_buffer scratch_;
};

class JsonWriter {
 public:
  explicit JsonWriter(OutputBuffer& out) : out_(out) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  // The next member's key; its value follows.
  JsonWriter& key(std::string_view name) {
    element();
    string_body(name);
    out_.append(": ", 2);
    after_key_ = true;
    return *this;
  }

  void value(std::string_view s) {
    element();
    string_body(s);
  }
  void value(const char* s) { value(std::string_view(s)); }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(bool b) {
    element();
    out_.append(b ? std::string_view("true") : std::string_view("false"));
  }
  void null() {
    element();
    out_.append("null", 4);
  }
  template <class Int, class = std::enable_if_t<std::is_integral_v<Int> &&
                                                 !std::is_same_v<Int, bool>>>
  void value(Int n) {
    element();
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out_.append(digits, static_cast<std::size_t>(end - digits));
  }

  // A string array in one call: ["a", "b"], or [].
  template <class Strings>
  void strings(const Strings& items) {
    begin_array();
    for (const auto& s : items) value(std::string_view(s));
    end_array();
  }

 private:
  // Before a value, a key or an opening bracket: the comma, newline and indent it needs,
  // unless it is the value of the key just written.
  void element() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (open_.empty()) return;
    const std::size_t indent = 2 * open_.size();
    if (indent + 2 > OutputBuffer::kBytes) {  // absurdly deep: the plain way
      if (open_.back()) out_.push(',');
      out_.push('\n');
      out_.spaces(indent);
    } else {
      char* p = out_.room(indent + 2);
      if (open_.back()) *p++ = ',';
      *p++ = '\n';
      std::memset(p, ' ', indent);
      out_.commit(p + indent);
    }
    open_.back() = 1;
  }

  void open(char bracket) {
    element();
    out_.push(bracket);
    open_.push_back(0);
  }
  void close(char bracket) {
    const bool had_elements = open_.back() != 0;
    open_.pop_back();
    if (had_elements) {
      out_.push('\n');
      out_.spaces(2 * open_.size());
    }
    out_.push(bracket);
  }


  // Whether any of the 8 bytes of `word` is a control character, `"`, `\` or not ASCII: the
  // bytes a string copies as they are go 8 at a time (most of a plan's text).
  static bool any_special(std::uint64_t word) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    const auto has_zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHigh; };
    const std::uint64_t below_space = (word - kOnes * 0x20) & ~word & kHigh;
    return ((word & kHigh) | below_space | has_zero(word ^ (kOnes * '"')) |
            has_zero(word ^ (kOnes * '\\'))) != 0;
  }

  // The length of the prefix of `s` that is copied as it is.
  static std::size_t plain_prefix(std::string_view s) {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if (any_special(word)) break;
    }
    for (; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
    }
    return i;
  }

  void string_body(std::string_view s) {
    std::size_t i = plain_prefix(s);
    if (i == s.size() && s.size() + 2 <= OutputBuffer::kBytes) {  // most strings
      char* p = out_.room(s.size() + 2);
      *p++ = '"';
      if (!s.empty()) std::memcpy(p, s.data(), s.size());
      p += s.size();
      *p++ = '"';
      out_.commit(p);
      return;
    }
    out_.push('"');
    std::size_t run = 0;  // start of the bytes not yet copied
    while (i < s.size()) {
      if (i + 8 <= s.size()) {
        std::uint64_t word;
        std::memcpy(&word, s.data() + i, 8);
        if (!any_special(word)) {
          i += 8;
          continue;
        }
      }
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
        ++i;
        continue;
      }
      if (c >= 0x80) {
        if (const std::size_t len = utf8_sequence_length(s, i); len > 0) {
          i += len;
          continue;
        }
      }
      out_.append(s.data() + run, i - run);
      switch (c) {
        case '"': out_.append("\\\"", 2); break;
        case '\\': out_.append("\\\\", 2); break;
        case '\b': out_.append("\\b", 2); break;
        case '\f': out_.append("\\f", 2); break;
        case '\n': out_.append("\\n", 2); break;
        case '\r': out_.append("\\r", 2); break;
        case '\t': out_.append("\\t", 2); break;
        default:
          if (c < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
            out_.append(escaped, sizeof escaped);
          } else {
            out_.append("\xEF\xBF\xBD", 3);  // U+FFFD for a byte that is not UTF-8
          }
      }
      run = ++i;
    }
    out_.append(s.data() + run, s.size() - run);
    out_.push('"');
  }

  OutputBuffer& out_;
  std::vector<char> open_;  // per open bracket: has it an element yet (1) or not (0)
  bool after_key_ = false;
};

}  // namespace br
