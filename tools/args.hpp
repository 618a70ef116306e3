// tools/args.hpp: the one command-line parser of the repository's programs
// (demo, bench, sagactl; not saga_node, which uses CAF's configuration), and
// the small helpers they share: parse_duration_ms() and now_ms().
//
// Each program declares its options once, bound to its own variables: name,
// value type, default (the variable's value when declared) and help text.
// --help prints them; an unknown option, a missing value or a bad one is an
// error that names the option and the value. The parser owns its option
// table only and keeps references to the bound variables, which must outlive
// it; it is not thread-safe (one thread parses, as main does).

#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <iosfwd>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace saga::tools {

/// Returns the duration `text` in milliseconds: a non-negative decimal
/// number ("90", "1.5") followed by a unit, ms, s, m (or min), h or d. A
/// plain number counts in units of `bare_unit_ms` (0: a unit is required).
/// Returns nullopt on anything else, and on an overflow.
std::optional<int64_t> parse_duration_ms(std::string_view text,
                                         int64_t bare_unit_ms = 0);

/// Returns `ms` in the shortest of the forms "2m", "90s" or "250ms" that
/// states it exactly (what parse_duration_ms() reads back).
std::string show_duration(std::chrono::milliseconds ms);

/// Returns the wall-clock time in milliseconds since the Unix epoch.
int64_t now_ms();

/// One declared option. Its setters chain: `p.text(...).value_name("URL")`.
struct option {
  std::string name; // "--redis"
  std::string meta; // what the value is in --help: "URL", "N"; "" for flags
  std::string help;
  std::string default_text; // printed as "(default: ...)"; "" prints none
  std::string missing;      // the error without a value: "needs a value"
  bool takes_value = true;
  /// Stores the value `text` in the bound variable; returns what it should
  /// have been ("a number in 1 to 500") when it is not that.
  std::function<std::optional<std::string>(const std::string& text)> set;
  bool given = false;

  /// Sets the value's name in --help ("URL", "N", "D").
  option& value_name(std::string x) {
    meta = std::move(x);
    return *this;
  }
  /// Sets the default shown in --help (e.g. "random, printed").
  option& shown_default(std::string x) {
    default_text = std::move(x);
    return *this;
  }
  /// Sets what the error says when the value is missing ("a URL").
  option& needs(const std::string& what) {
    missing = "needs " + what;
    return *this;
  }
  /// Adds a check of the stored value (`ok` reads the bound variable);
  /// `expected` says what a value that fails it should have been.
  option& check(std::function<bool()> ok, std::string expected) {
    set = [first = std::move(set), ok = std::move(ok),
           expected = std::move(expected)](
            const std::string& v) -> std::optional<std::string> {
      if (auto e = first(v))
        return e;
      if (!ok())
        return expected;
      return std::nullopt;
    };
    return *this;
  }
};

/// What parse() found.
struct parse_outcome {
  enum class kind { ok, help, error };
  kind result = kind::ok;
  /// The error, naming the option and the value ("--limit: 'ten' is not a
  /// number in 1 to 500"), without the program's name.
  std::string error;
  /// The arguments that are not options, in order (a subcommand, an id),
  /// and, when parse stopped at the first of them, everything after it.
  std::vector<std::string> positional;

  bool ok() const noexcept {
    return result == kind::ok;
  }
};

class arg_parser {
public:
  /// `program` names the program in errors; `summary` heads --help.
  arg_parser(std::string program, std::string summary);

  // -- declarations: `out` holds the default and receives the value ----------

  /// Declares a flag without a value: `--name` sets `out` to true.
  option& flag(const std::string& name, bool& out, std::string help);

  /// Declares an option whose value is any text.
  option& text(const std::string& name, std::string& out, std::string help);

  /// Declares an option whose value is one of `choices`.
  option& choice(const std::string& name, std::string& out,
                 std::vector<std::string> choices, std::string help);

  /// Declares an option whose value is "yes" or "no".
  option& yes_no(const std::string& name, bool& out, std::string help);

  /// Declares an option whose value is a whole number in [min, max].
  template <class Int>
  // Moved into add(); the check misses moves in templates.
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  option& integer(const std::string& name, Int& out, std::string help,
                  Int min = std::numeric_limits<Int>::min(),
                  Int max = std::numeric_limits<Int>::max()) {
    static_assert(std::is_integral_v<Int>);
    auto& o = add(name, "N", std::move(help), std::to_string(out));
    auto expected = range_text(static_cast<long double>(min),
                               static_cast<long double>(max), "a number");
    o.set = [&out, min, max,
             expected](const std::string& v) -> std::optional<std::string> {
      auto x = parse_integer(v, std::is_signed_v<Int>);
      if (!x || *x < static_cast<long double>(min)
          || *x > static_cast<long double>(max))
        return expected;
      out = static_cast<Int>(*x);
      return std::nullopt;
    };
    return o;
  }

  /// Declares an option whose value is a finite number in [min, max].
  option& number(const std::string& name, double& out, std::string help,
                 double min = std::numeric_limits<double>::lowest(),
                 double max = std::numeric_limits<double>::max());

  /// Declares an option whose value is a duration (parse_duration_ms) of at
  /// least `min`; a plain number counts in `bare_unit_ms` (0: not allowed).
  option& duration(const std::string& name, std::chrono::milliseconds& out,
                   std::string help,
                   std::chrono::milliseconds min = std::chrono::milliseconds{0},
                   int64_t bare_unit_ms = 0);

  /// Declares an option whose value `set` checks and stores; `set` returns
  /// what the value should have been when it is not that.
  option&
  custom(const std::string& name, std::string meta, std::string help,
         std::function<std::optional<std::string>(const std::string&)> set);

  // -- parsing ---------------------------------------------------------------

  /// Accepts arguments that are not options (collected in the outcome's
  /// `positional`) instead of calling them unknown options.
  void allow_positional(bool stop_at_first = false) {
    positional_ = true;
    stop_at_positional_ = stop_at_first;
  }

  /// Sets the text --help prints after the options (e.g. subcommands).
  void epilog(std::string x) {
    epilog_ = std::move(x);
  }

  /// Sets the prefix of the unknown-option error ("list" for
  /// "list: unknown option '--x'").
  void context(std::string x) {
    context_ = std::move(x);
  }

  /// Returns what `args` hold, storing each value. `--name value` and
  /// `--name=value` both work; --help or -h (anywhere) asks for the help.
  parse_outcome parse(const std::vector<std::string>& args);

  /// Returns what argv[first..argc) hold (see above).
  parse_outcome parse(int argc, char** argv, int first = 1);

  /// Parses argv[1..argc), or ends the program: --help prints the help to
  /// stdout and exits 0; an error goes to stderr and exits 2. Returns the
  /// positional arguments.
  std::vector<std::string> parse_or_exit(int argc, char** argv);

  /// Returns whether option `name` was given (not just its default).
  bool given(const std::string& name) const;

  /// Writes the summary and every option with its help and default.
  void print_help(std::ostream& out) const;

  /// Writes "program: what (see program --help)" to stderr; returns 2, the
  /// exit status of a usage error.
  int usage_error(const std::string& what) const;

  const std::string& program() const noexcept {
    return program_;
  }

private:
  option& add(const std::string& name, std::string meta, std::string help,
              std::string default_text);
  option* find(const std::string& name);
  std::string context_prefix() const {
    return context_.empty() ? std::string{} : context_ + ": ";
  }
  static std::optional<long double> parse_integer(const std::string& v,
                                                  bool is_signed);
  static std::string range_text(long double min, long double max,
                                const char* what);

  std::string program_;
  std::string summary_;
  std::string context_;
  std::string epilog_;
  bool positional_ = false;
  bool stop_at_positional_ = false;
  std::deque<option> options_; // a deque: declared options never move
};

} // namespace saga::tools
