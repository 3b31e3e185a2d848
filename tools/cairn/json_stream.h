// A RapidJSON input stream over a string_view, shared by the CLI's JSON code
// (rapidjson::StringStream would need a NUL terminator, and stops at an embedded NUL).
#pragma once

#include <cstddef>
#include <string_view>

namespace cairn::cli {

class ViewStream {
 public:
  using Ch = char;
  explicit ViewStream(std::string_view text) : text_(text) {}
  Ch Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  Ch Take() { return pos_ < text_.size() ? text_[pos_++] : '\0'; }
  std::size_t Tell() const { return pos_; }
  Ch* PutBegin() { return nullptr; }  // the Stream concept wants these; a reader never calls them
  void Put(Ch) {}
  void Flush() {}
  std::size_t PutEnd(Ch*) { return 0; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace cairn::cli
