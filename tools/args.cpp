#include "tools/args.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace saga::tools {

namespace {

/// Returns the error for option `name` given `value`, which is not `what`.
std::string bad_value(const std::string& name, const std::string& value,
                      const std::string& what) {
  return name + ": '" + value + "' is not " + what;
}

/// Returns `x` as the shortest decimal text that reads back as `x`.
std::string show_number(double x) {
  std::ostringstream out;
  out << std::setprecision(15) << x;
  return out.str();
}

/// Returns `text` broken into lines of at most `width` characters where it
/// has spaces (and where it has '\n'), every line after the first indented
/// by `indent`.
std::string wrap(const std::string& text, size_t indent, size_t width) {
  std::string out;
  std::string line;
  auto flush = [&] {
    if (!out.empty())
      out += '\n' + std::string(indent, ' ');
    out += line;
    line.clear();
  };
  std::istringstream paragraphs{text};
  std::string paragraph;
  while (std::getline(paragraphs, paragraph)) {
    std::istringstream words{paragraph};
    std::string word;
    while (words >> word) {
      if (!line.empty() && line.size() + 1 + word.size() > width)
        flush();
      line += (line.empty() ? "" : " ") + word;
    }
    flush();
  }
  return out;
}

/// Returns whether `text` starts like an option ("--x", or "-h").
bool looks_like_option(const std::string& text) {
  return text.rfind("--", 0) == 0 && text.size() > 2;
}

} // namespace

std::optional<int64_t> parse_duration_ms(std::string_view text,
                                         int64_t bare_unit_ms) {
  // The number: digits, then optionally a fraction. No sign, no exponent, no
  // "inf": strtod's extras are not durations.
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9')
    ++i;
  auto whole_digits = i;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
      ++i;
  }
  if (whole_digits == 0 && i <= 1)
    return std::nullopt; // no digits at all
  auto number = std::strtod(std::string{text.substr(0, i)}.c_str(), nullptr);
  auto unit = text.substr(i);
  double scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m" || unit == "min")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else if (unit == "d")
    scale = 86'400'000;
  else if (unit.empty() && bare_unit_ms > 0)
    scale = static_cast<double>(bare_unit_ms);
  else
    return std::nullopt;
  auto ms = number * scale;
  // 2^63 is exactly representable: anything at or beyond it overflows.
  if (!std::isfinite(ms) || ms >= 9.223372036854775808e18)
    return std::nullopt;
  return static_cast<int64_t>(ms);
}

std::string show_duration(std::chrono::milliseconds ms) {
  auto n = ms.count();
  if (n >= 60'000 && n % 60'000 == 0)
    return std::to_string(n / 60'000) + "m";
  if (n % 1000 == 0)
    return std::to_string(n / 1000) + "s";
  return std::to_string(n) + "ms";
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

// -- arg_parser: declarations
// ----------------------------------------------------

arg_parser::arg_parser(std::string program, std::string summary)
  : program_(std::move(program)), summary_(std::move(summary)) {
  // nop
}

option& arg_parser::add(const std::string& name, std::string meta,
                        std::string help, std::string default_text) {
  auto& o = options_.emplace_back();
  o.name = name;
  o.meta = std::move(meta);
  o.help = std::move(help);
  o.default_text = std::move(default_text);
  o.missing = "needs a value";
  return o;
}

option& arg_parser::flag(const std::string& name, bool& out, std::string help) {
  auto& o = add(name, "", std::move(help), "");
  o.takes_value = false;
  o.set = [&out](const std::string&) -> std::optional<std::string> {
    out = true;
    return std::nullopt;
  };
  return o;
}

option& arg_parser::text(const std::string& name, std::string& out,
                         std::string help) {
  auto& o = add(name, "S", std::move(help), out);
  o.set = [&out](const std::string& v) -> std::optional<std::string> {
    out = v;
    return std::nullopt;
  };
  return o;
}

option& arg_parser::choice(const std::string& name, std::string& out,
                           std::vector<std::string> choices, std::string help) {
  std::string meta;
  for (const auto& c : choices)
    meta += (meta.empty() ? "" : "|") + c;
  auto& o = add(name, meta, std::move(help), out);
  std::string expected = "one of ";
  for (size_t i = 0; i < choices.size(); ++i)
    expected += (i == 0 ? "" : ", ") + choices[i];
  o.set = [&out, choices,
           expected](const std::string& v) -> std::optional<std::string> {
    for (const auto& c : choices)
      if (v == c) {
        out = v;
        return std::nullopt;
      }
    return expected;
  };
  return o;
}

option& arg_parser::yes_no(const std::string& name, bool& out,
                           std::string help) {
  auto& o = add(name, "yes|no", std::move(help), out ? "yes" : "no");
  o.set = [&out](const std::string& v) -> std::optional<std::string> {
    if (v != "yes" && v != "no")
      return "yes or no";
    out = v == "yes";
    return std::nullopt;
  };
  return o;
}

option& arg_parser::number(const std::string& name, double& out,
                           std::string help, double min, double max) {
  auto& o = add(name, "F", std::move(help), show_number(out));
  auto expected = range_text(min, max, "a number");
  o.set = [&out, min, max,
           expected](const std::string& v) -> std::optional<std::string> {
    char* end = nullptr;
    auto x = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(x) || x < min
        || x > max)
      return expected;
    out = x;
    return std::nullopt;
  };
  return o;
}

option& arg_parser::duration(const std::string& name,
                             std::chrono::milliseconds& out, std::string help,
                             std::chrono::milliseconds min,
                             int64_t bare_unit_ms) {
  auto& o = add(name, "D", std::move(help), show_duration(out));
  std::string expected = "a duration";
  if (min.count() > 0)
    expected += " of at least " + show_duration(min);
  expected += " (like 250ms, 30s, 5m, 2h, 1d)";
  o.set = [&out, min, bare_unit_ms,
           expected](const std::string& v) -> std::optional<std::string> {
    auto ms = parse_duration_ms(v, bare_unit_ms);
    if (!ms || *ms < min.count())
      return expected;
    out = std::chrono::milliseconds{*ms};
    return std::nullopt;
  };
  return o;
}

option& arg_parser::custom(
  const std::string& name, std::string meta, std::string help,
  std::function<std::optional<std::string>(const std::string&)> set) {
  auto& o = add(name, std::move(meta), std::move(help), "");
  o.set = std::move(set);
  return o;
}

std::optional<long double> arg_parser::parse_integer(const std::string& v,
                                                     bool is_signed) {
  const auto* first = v.data();
  const auto* last = v.data() + v.size();
  if (is_signed) {
    int64_t x = 0;
    auto [end, ec] = std::from_chars(first, last, x);
    if (ec != std::errc{} || end != last || v.empty())
      return std::nullopt;
    return static_cast<long double>(x);
  }
  uint64_t x = 0;
  auto [end, ec] = std::from_chars(first, last, x);
  if (ec != std::errc{} || end != last || v.empty())
    return std::nullopt;
  return static_cast<long double>(x);
}

std::string arg_parser::range_text(long double min, long double max,
                                   const char* what) {
  // Bounds at the type's limits are no bounds worth stating.
  auto show = [](long double x) { return show_number(static_cast<double>(x)); };
  bool low = min > -1e18L && min != 0.0L;
  bool high = max < 1e18L;
  std::string text = what;
  if (min == 0.0L && high)
    return text + " in 0 to " + show(max);
  if (low && high)
    return text + " in " + show(min) + " to " + show(max);
  if (low)
    return text + " >= " + show(min);
  if (min == 0.0L)
    return text + " >= 0";
  if (high)
    return text + " <= " + show(max);
  return text;
}

// -- arg_parser: parsing
// ---------------------------------------------------------

option* arg_parser::find(const std::string& name) {
  for (auto& o : options_)
    if (o.name == name)
      return &o;
  return nullptr;
}

bool arg_parser::given(const std::string& name) const {
  for (const auto& o : options_)
    if (o.name == name)
      return o.given;
  return false;
}

parse_outcome arg_parser::parse(const std::vector<std::string>& args) {
  parse_outcome out;
  auto fail = [&out](std::string what) {
    out.result = parse_outcome::kind::error;
    out.error = std::move(what);
    return out;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.result = parse_outcome::kind::help;
      return out;
    }
    if (!looks_like_option(arg)) {
      if (!positional_)
        return fail(context_prefix() + "unknown option '" + arg + "'");
      if (stop_at_positional_) {
        out.positional.assign(args.begin() + static_cast<std::ptrdiff_t>(i),
                              args.end());
        return out;
      }
      out.positional.push_back(arg);
      continue;
    }
    auto eq = arg.find('=');
    auto name = arg.substr(0, eq);
    auto* o = find(name);
    if (o == nullptr)
      return fail(context_prefix() + "unknown option '" + name + "'");
    std::string value;
    if (!o->takes_value) {
      if (eq != std::string::npos)
        return fail(name + " takes no value");
    } else if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return fail(name + " " + o->missing);
    }
    if (auto expected = o->set(value))
      return fail(bad_value(name, value, *expected));
    o->given = true;
  }
  return out;
}

parse_outcome arg_parser::parse(int argc, char** argv, int first) {
  std::vector<std::string> args;
  for (int i = first; i < argc; ++i)
    args.emplace_back(argv[i]);
  return parse(args);
}

std::vector<std::string> arg_parser::parse_or_exit(int argc, char** argv) {
  auto outcome = parse(argc, argv);
  if (outcome.result == parse_outcome::kind::help) {
    print_help(std::cout);
    std::exit(0);
  }
  if (outcome.result == parse_outcome::kind::error)
    std::exit(usage_error(outcome.error));
  return std::move(outcome.positional);
}

int arg_parser::usage_error(const std::string& what) const {
  std::cerr << program_ << ": " << what << " (see " << program_ << " --help)\n";
  return 2;
}

void arg_parser::print_help(std::ostream& out) const {
  out << summary_;
  if (!summary_.empty() && summary_.back() != '\n')
    out << '\n';
  out << "\noptions:\n";
  constexpr size_t help_column = 26;
  for (const auto& o : options_) {
    auto head = "  " + o.name + (o.meta.empty() ? "" : " " + o.meta);
    auto help = o.help;
    if (!o.default_text.empty())
      help += " (default: " + o.default_text + ")";
    out << head;
    // Long heads get the help on the next line; the help wraps at 79
    // columns, its lines lined up under its first.
    if (head.size() + 1 > help_column)
      out << '\n' << std::string(help_column, ' ');
    else
      out << std::string(help_column - head.size(), ' ');
    out << wrap(help, help_column, 79 - help_column) << '\n';
  }
  out << "  --help                  this text\n";
  if (!epilog_.empty())
    out << '\n' << epilog_;
}

} // namespace saga::tools
