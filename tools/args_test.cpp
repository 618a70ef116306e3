#include "tools/args.hpp"

#include <sstream>

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using saga::tools::arg_parser;
using saga::tools::parse_duration_ms;
using saga::tools::parse_outcome;

namespace {

/// The options of a typical program, bound to their defaults.
struct arg_parser_test : ::testing::Test {
  bool keep = false;
  std::string logs = "/tmp";
  std::string journal = "memory";
  bool kill = true;
  size_t players = 40;
  int64_t offset = -3;
  double rate = 12;
  std::chrono::milliseconds duration = 120s;
  arg_parser p{"prog", "prog: does things"};

  arg_parser_test() {
    p.flag("--keep-logs", keep, "keep the logs");
    p.text("--logs", logs, "where the logs go").value_name("DIR");
    p.choice("--journal", journal, {"memory", "redis"}, "the journal");
    p.yes_no("--kill", kill, "kill a node");
    p.integer("--players", players, "players", size_t{2}, size_t{1000});
    p.integer("--offset", offset, "an offset");
    p.number("--rate", rate, "sagas per second", 0.0)
      .check([this] { return rate > 0; }, "a number > 0");
    p.duration("--duration", duration, "how long", 10s, 1000);
  }

  parse_outcome run(const std::vector<std::string>& args) {
    return p.parse(args);
  }
};

} // namespace

TEST_F(arg_parser_test, defaults_stay_without_arguments) {
  auto r = run({});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(keep);
  EXPECT_EQ(logs, "/tmp");
  EXPECT_EQ(journal, "memory");
  EXPECT_TRUE(kill);
  EXPECT_EQ(players, 40u);
  EXPECT_EQ(offset, -3);
  EXPECT_EQ(rate, 12);
  EXPECT_EQ(duration, 120s);
  EXPECT_FALSE(p.given("--players"));
}

TEST_F(arg_parser_test, each_value_type_is_stored) {
  auto r = run({"--keep-logs", "--logs", "/var/x", "--journal=redis", "--kill",
                "no", "--players", "7", "--offset", "-12", "--rate", "2.5",
                "--duration", "90s"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(keep);
  EXPECT_EQ(logs, "/var/x");
  EXPECT_EQ(journal, "redis");
  EXPECT_FALSE(kill);
  EXPECT_EQ(players, 7u);
  EXPECT_EQ(offset, -12);
  EXPECT_EQ(rate, 2.5);
  EXPECT_EQ(duration, 90s);
  EXPECT_TRUE(p.given("--players"));
  // A plain number counts in the bare unit given (seconds here).
  ASSERT_TRUE(run({"--duration", "30"}).ok());
  EXPECT_EQ(duration, 30s);
}

TEST_F(arg_parser_test, an_unknown_option_is_named) {
  auto r = run({"--players", "3", "--nope", "1"});
  ASSERT_EQ(r.result, parse_outcome::kind::error);
  EXPECT_EQ(r.error, "unknown option '--nope'");
  p.context("list");
  r = run({"extra"});
  EXPECT_EQ(r.error, "list: unknown option 'extra'");
}

TEST_F(arg_parser_test, a_missing_value_is_named) {
  auto r = run({"--logs"});
  ASSERT_EQ(r.result, parse_outcome::kind::error);
  EXPECT_EQ(r.error, "--logs needs a value");
  std::string url;
  p.text("--redis", url, "Redis").needs("a URL");
  EXPECT_EQ(run({"--redis"}).error, "--redis needs a URL");
}

TEST_F(arg_parser_test, a_bad_number_names_option_and_value) {
  EXPECT_EQ(run({"--players", "ten"}).error,
            "--players: 'ten' is not a number in 2 to 1000");
  EXPECT_EQ(run({"--players", "1"}).error,
            "--players: '1' is not a number in 2 to 1000");
  EXPECT_EQ(run({"--players", "-5"}).error,
            "--players: '-5' is not a number in 2 to 1000");
  EXPECT_EQ(run({"--players", "99999999999999999999999"}).error,
            "--players: '99999999999999999999999' is not a number in 2 to "
            "1000");
  EXPECT_EQ(run({"--offset", "1.5"}).error, "--offset: '1.5' is not a number");
  EXPECT_EQ(run({"--rate", "x"}).error, "--rate: 'x' is not a number >= 0");
  EXPECT_EQ(run({"--rate", "0"}).error, "--rate: '0' is not a number > 0");
  EXPECT_EQ(run({"--rate", "inf"}).error, "--rate: 'inf' is not a number >= 0");
  EXPECT_EQ(run({"--journal", "disk"}).error,
            "--journal: 'disk' is not one of memory, redis");
  EXPECT_EQ(run({"--kill", "maybe"}).error, "--kill: 'maybe' is not yes or no");
  EXPECT_EQ(run({"--keep-logs=1"}).error, "--keep-logs takes no value");
}

TEST_F(arg_parser_test, a_bad_duration_names_option_and_value) {
  auto r = run({"--duration", "soon"});
  ASSERT_EQ(r.result, parse_outcome::kind::error);
  EXPECT_EQ(r.error, "--duration: 'soon' is not a duration of at least 10s "
                     "(like 250ms, 30s, 5m, 2h, 1d)");
  EXPECT_NE(run({"--duration", "5s"}).error.find("'5s' is not a duration"),
            std::string::npos);
  EXPECT_NE(run({"--duration", "-20s"}).error.find("is not a duration"),
            std::string::npos);
}

TEST(args_parse_duration, accepts_the_programs_forms) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("90s"), 90'000);
  EXPECT_EQ(parse_duration_ms("2m"), 120'000);
  EXPECT_EQ(parse_duration_ms("2min"), 120'000);
  EXPECT_EQ(parse_duration_ms("2h"), 7'200'000);
  EXPECT_EQ(parse_duration_ms("1d"), 86'400'000);
  EXPECT_EQ(parse_duration_ms("1.5s"), 1'500);
  EXPECT_EQ(parse_duration_ms("0"), std::nullopt); // a unit is required
  EXPECT_EQ(parse_duration_ms("0", 1000), 0);
  EXPECT_EQ(parse_duration_ms("90", 1000), 90'000);
  for (auto bad : {"", "s", "-5s", "5x", "1e3s", "inf", " 5s", "5 s", ".s",
                   "99999999999999999999d"})
    EXPECT_EQ(parse_duration_ms(bad, 1000), std::nullopt) << bad;
}

TEST(args_show_duration, reads_back) {
  using saga::tools::show_duration;
  EXPECT_EQ(show_duration(120s), "2m");
  EXPECT_EQ(show_duration(90s), "90s");
  EXPECT_EQ(show_duration(1500ms), "1500ms");
  EXPECT_EQ(show_duration(0ms), "0s");
}

TEST_F(arg_parser_test, help_lists_every_option_with_its_default) {
  auto r = run({"--players", "3", "--help"});
  EXPECT_EQ(r.result, parse_outcome::kind::help);
  EXPECT_EQ(run({"-h"}).result, parse_outcome::kind::help);
  // A value that reads "--help" is a value.
  ASSERT_TRUE(run({"--logs", "--help"}).ok());
  EXPECT_EQ(logs, "--help");
  std::ostringstream out;
  p.print_help(out);
  auto text = out.str();
  EXPECT_EQ(text.rfind("prog: does things\n", 0), 0u) << text;
  for (auto x :
       {"--keep-logs", "--logs DIR", "--journal memory|redis", "--kill yes|no",
        "--players N", "--rate F", "--duration D", "(default: 40)",
        "(default: 12)", "(default: 2m)", "(default: yes)", "--help"})
    EXPECT_NE(text.find(x), std::string::npos) << x << " in\n" << text;
}

TEST(arg_parser, positionals_stop_the_options_when_asked) {
  bool json = false;
  arg_parser p{"tool", ""};
  p.flag("--json", json, "JSON");
  p.allow_positional(true);
  auto r = p.parse(std::vector<std::string>{"--json", "list", "--state", "x"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(json);
  EXPECT_EQ(r.positional, (std::vector<std::string>{"list", "--state", "x"}));
}

TEST(arg_parser, help_wraps_long_help_and_ends_with_the_epilog) {
  std::string text;
  arg_parser p{"tool", "usage: tool [options] COMMAND"};
  p.text("--a-rather-long-option-name", text,
         "a help text long enough that it cannot fit on one line of the "
         "terminal and must wrap onto a second one");
  p.epilog("commands:\n  run   runs\n");
  std::ostringstream out;
  p.print_help(out);
  std::istringstream lines{out.str()};
  std::string line;
  size_t count = 0;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), 79u) << line;
    ++count;
  }
  EXPECT_GE(count, 8u) << out.str();
  EXPECT_NE(out.str().find("this text\n\ncommands:\n  run   runs\n"),
            std::string::npos)
    << out.str();
}
