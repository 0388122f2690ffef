// The generic layer of the .res parser: a lexer and a recursive-descent parser
// that turn text into a tree of statements without knowing any keyword.
// Private to src/adm; res_parser.cc gives the tree its meaning.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tandem::adm::internal {

// A word or a quoted string (quotes removed, escapes resolved).
struct Word {
  std::string text;
  bool quoted = false;
  int line = 0;
};

// `keyword arg...;` (is_block false) or `keyword arg... { children }`.
struct Node {
  Word keyword;  // never quoted
  std::vector<Word> args;
  bool is_block = false;
  std::vector<Node> children;
  int line() const { return keyword.line; }
};

// Blocks may nest at most this deep; deeper input is rejected rather than
// risking the stack on hostile input.
inline constexpr int kMaxDepth = 16;

// Grammar:
//   file      := statement* END
//   statement := WORD arg* ( ';' | '{' statement* '}' [';'] )
//   arg       := WORD | STRING
// `#` starts a comment running to the end of the line (only where a token may
// start). A WORD is a run of bytes other than whitespace, control characters,
// '{', '}', ';' and '"'. A STRING is "..." on one line; a backslash makes the
// next byte literal.
// Errors: kInvalidArgument "file:line: message".
Result<std::vector<Node>> ParseSyntax(std::string_view text, std::string_view file);

// Formats a value for output: as is when it lexes back to one WORD, else as a
// quoted string with '"' and '\' escaped.
std::string QuoteIfNeeded(std::string_view value);
std::string Quote(std::string_view value);

}  // namespace tandem::adm::internal
