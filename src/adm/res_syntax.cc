#include "adm/internal/res_syntax.h"

#include <cstdio>
#include <string>

namespace tandem::adm::internal {
namespace {

enum class Tok { kWord, kString, kOpen, kClose, kSemi, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  int line = 0;
};

bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsControl(unsigned char c) { return (c < 0x20 && !IsSpace(c)) || c == 0x7f; }
bool IsWordByte(unsigned char c) {
  return !IsSpace(c) && !IsControl(c) && c != '{' && c != '}' && c != ';' && c != '"';
}

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kWord:
      return "'" + t.text + "'";
    case Tok::kString:
      return "string \"" + t.text + "\"";
    case Tok::kOpen:
      return "'{'";
    case Tok::kClose:
      return "'}'";
    case Tok::kSemi:
      return "';'";
    case Tok::kEnd:
      return "end of file";
  }
  return "?";
}

// Splits the input into tokens on demand. Invariant: pos_ <= text_.size().
class Lexer {
 public:
  Lexer(std::string_view text, std::string_view file) : text_(text), file_(file) {}

  Error Fail(int line, const std::string& message) const {
    return MakeError(Errc::kInvalidArgument,
                     std::string(file_) + ":" + std::to_string(line) + ": " + message);
  }

  Result<Token> Next() {
    SkipSpaceAndComments();
    Token t;
    t.line = line_;
    if (pos_ >= text_.size()) return t;
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c == '{' || c == '}' || c == ';') {
      t.kind = c == '{' ? Tok::kOpen : c == '}' ? Tok::kClose : Tok::kSemi;
      ++pos_;
      return t;
    }
    if (c == '"') return LexString();
    if (IsControl(c)) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "0x%02x", c);
      return Fail(line_, std::string("invalid character ") + buf);
    }
    t.kind = Tok::kWord;
    while (pos_ < text_.size() && IsWordByte(static_cast<unsigned char>(text_[pos_]))) {
      t.text.push_back(text_[pos_++]);
    }
    return t;
  }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (IsSpace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        return;
      }
    }
  }

  Result<Token> LexString() {
    Token t;
    t.kind = Tok::kString;
    t.line = line_;
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size() || text_[pos_] == '\n') {
        return Fail(t.line, "unterminated string");
      }
      unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return t;
      if (c == '\\') {
        if (pos_ >= text_.size() || text_[pos_] == '\n') return Fail(t.line, "unterminated string");
        c = static_cast<unsigned char>(text_[pos_++]);
      }
      if (IsControl(c) || (c != '\t' && IsSpace(c) && c != ' ')) {
        return Fail(t.line, "invalid character in string");
      }
      t.text.push_back(static_cast<char>(c));
    }
  }

  std::string_view text_;
  std::string_view file_;
  size_t pos_ = 0;
  int line_ = 1;
};

// Recursive descent over the token stream with one token of lookahead.
class Parser {
 public:
  Parser(std::string_view text, std::string_view file) : lex_(text, file) {}

  Result<std::vector<Node>> ParseFile() {
    TANDEM_TRY(Advance());
    std::vector<Node> out;
    TANDEM_TRY(ParseStatements(0, &out));
    if (tok_.kind != Tok::kEnd) return lex_.Fail(tok_.line, "unexpected " + Describe(tok_));
    return out;
  }

 private:
  Status Advance() {
    auto t = lex_.Next();
    if (!t.ok()) return t.error();
    tok_ = std::move(*t);
    return {};
  }

  // Reads statements until '}' or end of input (neither consumed).
  Status ParseStatements(int depth, std::vector<Node>* out) {
    while (tok_.kind != Tok::kEnd && tok_.kind != Tok::kClose) {
      if (tok_.kind != Tok::kWord) {
        return lex_.Fail(tok_.line, "expected a keyword, found " + Describe(tok_));
      }
      Node node;
      node.keyword = Word{tok_.text, false, tok_.line};
      TANDEM_TRY(Advance());
      while (tok_.kind == Tok::kWord || tok_.kind == Tok::kString) {
        node.args.push_back(Word{tok_.text, tok_.kind == Tok::kString, tok_.line});
        TANDEM_TRY(Advance());
      }
      if (tok_.kind == Tok::kSemi) {
        TANDEM_TRY(Advance());
      } else if (tok_.kind == Tok::kOpen) {
        if (depth + 1 > kMaxDepth) return lex_.Fail(tok_.line, "sections nested too deeply");
        const int open_line = tok_.line;
        node.is_block = true;
        TANDEM_TRY(Advance());
        TANDEM_TRY(ParseStatements(depth + 1, &node.children));
        if (tok_.kind != Tok::kClose) {
          return lex_.Fail(tok_.line, "missing '}' for '" + node.keyword.text +
                                          "' opened at line " + std::to_string(open_line));
        }
        TANDEM_TRY(Advance());
        if (tok_.kind == Tok::kSemi) TANDEM_TRY(Advance());  // tolerated: `};`
      } else {
        return lex_.Fail(tok_.line, "expected ';' or '{' after '" + node.keyword.text +
                                        "', found " + Describe(tok_));
      }
      out->push_back(std::move(node));
    }
    return {};
  }

  Lexer lex_;
  Token tok_;
};

}  // namespace

Result<std::vector<Node>> ParseSyntax(std::string_view text, std::string_view file) {
  Parser p(text, file);
  return p.ParseFile();
}

std::string Quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string QuoteIfNeeded(std::string_view value) {
  bool plain = !value.empty() && value[0] != '#';
  for (char c : value) plain = plain && IsWordByte(static_cast<unsigned char>(c));
  return plain ? std::string(value) : Quote(value);
}

}  // namespace tandem::adm::internal
