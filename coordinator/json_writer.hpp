// Writes a JSON document as it is produced, through a buffer, instead of building it as a
// DOM first: `br plan --json` of a 100k-feature spec is ~0.5 GB of text, which as an
// nlohmann::json tree and then one string took several times the memory of the plan itself.
// The layout is nlohmann's dump(2), byte for byte, so documents read as they did when they
// were built as a DOM: two-space indent, `"key": value`, `[]` and `{}` when empty, strings
// UTF-8 with only `"`, `\` and control characters escaped (\u00XX in lower-case hex).
// Invalid UTF-8 (which dump() would throw on) is written as U+FFFD, one per bad byte.
// Keys are written in the order given: callers give them sorted, as nlohmann's objects are.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace br {

// Bytes on their way to a FILE* (or, for tests, a string), written out 64 KiB at a time.
// Producers append to text() and call maybe_flush() between pieces.
class OutputBuffer {
 public:
  explicit OutputBuffer(std::FILE* out) : file_(out) { pending_.reserve(kBytes + 4096); }
  explicit OutputBuffer(std::string& out) : text_(&out) { pending_.reserve(kBytes + 4096); }
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;
  ~OutputBuffer() { flush(); }

  std::string& text() { return pending_; }
  void maybe_flush() {
    if (pending_.size() >= kBytes) flush();
  }
  void flush() {
    if (pending_.empty()) return;
    if (file_) std::fwrite(pending_.data(), 1, pending_.size(), file_);
    if (text_) text_->append(pending_);
    pending_.clear();
  }

 private:
  static constexpr std::size_t kBytes = std::size_t{1} << 16;
  std::FILE* file_ = nullptr;
  std::string* text_ = nullptr;
  std::string pending_;
};

class JsonWriter {
 public:
  explicit JsonWriter(OutputBuffer& out) : out_(out), buffer_(out.text()) {}
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
    buffer_ += ": ";
    after_key_ = true;
    return *this;
  }

  void value(std::string_view s) {
    element();
    string_body(s);
    done();
  }
  void value(const char* s) { value(std::string_view(s)); }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(bool b) {
    element();
    buffer_ += b ? "true" : "false";
    done();
  }
  void null() {
    element();
    buffer_ += "null";
    done();
  }
  template <class Int, class = std::enable_if_t<std::is_integral_v<Int> &&
                                                 !std::is_same_v<Int, bool>>>
  void value(Int n) {
    element();
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    buffer_.append(digits, static_cast<std::size_t>(end - digits));
    done();
  }

  // A string array in one call: ["a", "b"], or [].
  template <class Strings>
  void strings(const Strings& items) {
    begin_array();
    for (const auto& s : items) value(std::string_view(s));
    end_array();
  }

  // Text outside the document (the newline after it).
  void raw(std::string_view text) {
    buffer_ += text;
    out_.maybe_flush();
  }

 private:
  struct Level {
    char close;
    bool empty = true;
  };

  // Before a value, a key or an opening bracket: the comma, newline and indent it needs,
  // unless it is the value of the key just written.
  void element() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (stack_.empty()) return;
    Level& level = stack_.back();
    buffer_ += level.empty ? "\n" : ",\n";
    level.empty = false;
    buffer_.append(2 * stack_.size(), ' ');
  }
  void done() { out_.maybe_flush(); }

  void open(char bracket) {
    element();
    buffer_ += bracket;
    stack_.push_back(Level{bracket == '{' ? '}' : ']'});
  }
  void close(char bracket) {
    const bool empty = stack_.back().empty;
    stack_.pop_back();
    if (!empty) {
      buffer_ += '\n';
      buffer_.append(2 * stack_.size(), ' ');
    }
    buffer_ += bracket;
    done();
  }

  // Length of the valid UTF-8 sequence at s[i] (which is >= 0x80), or 0.
  static std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000;
    } else {
      return 0;
    }
    if (i + len > s.size()) return 0;
    std::uint32_t cp = c & (0xFFu >> (len + 1));
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
  }

  void string_body(std::string_view s) {
    buffer_ += '"';
    std::size_t run = 0;  // start of the bytes not yet copied
    for (std::size_t i = 0; i < s.size();) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
        ++i;
        continue;
      }
      if (c >= 0x80) {
        if (const std::size_t len = utf8_length(s, i); len > 0) {
          i += len;
          continue;
        }
      }
      buffer_.append(s.data() + run, i - run);
      switch (c) {
        case '"': buffer_ += "\\\""; break;
        case '\\': buffer_ += "\\\\"; break;
        case '\b': buffer_ += "\\b"; break;
        case '\f': buffer_ += "\\f"; break;
        case '\n': buffer_ += "\\n"; break;
        case '\r': buffer_ += "\\r"; break;
        case '\t': buffer_ += "\\t"; break;
        default:
          if (c < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
            buffer_.append(escaped, sizeof escaped);
          } else {
            buffer_ += "\xEF\xBF\xBD";  // U+FFFD for a byte that is not UTF-8
          }
      }
      run = ++i;
    }
    buffer_.append(s.data() + run, s.size() - run);
    buffer_ += '"';
  }

  OutputBuffer& out_;
  std::string& buffer_;  // out_'s pending text
  std::vector<Level> stack_;
  bool after_key_ = false;
};

}  // namespace br
