// Unit tests of saga::metrics and saga::histogram: cumulative buckets, sums,
// the "_other" caps, label escaping and the Prometheus text format 0.0.4.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "saga/metrics.hpp"

using saga::histogram;
using saga::metrics;

namespace {

/// One sample line of the exposition format, label values unescaped.
struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
         || c == ':';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

/// Returns the sample on `line` (`name{labels} value`), or nullopt if the
/// line breaks the format.
std::optional<sample> parse_sample(const std::string& line) {
  sample s;
  size_t i = 0;
  if (i == line.size() || !is_name_start(line[i]))
    return std::nullopt;
  while (i < line.size() && is_name_char(line[i]))
    s.name += line[i++];
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      std::string key;
      if (!is_name_start(line[i]) || line[i] == ':')
        return std::nullopt;
      while (i < line.size() && is_name_char(line[i]))
        key += line[i++];
      if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"')
        return std::nullopt;
      i += 2;
      std::string value;
      for (;;) {
        if (i >= line.size())
          return std::nullopt;
        auto c = line[i++];
        if (c == '"')
          break;
        if (c == '\\') {
          if (i >= line.size())
            return std::nullopt;
          auto e = line[i++];
          if (e == 'n')
            value += '\n';
          else if (e == '\\' || e == '"')
            value += e;
          else
            return std::nullopt;
        } else {
          value += c;
        }
      }
      if (!s.labels.emplace(key, value).second)
        return std::nullopt; // duplicate label
      if (i < line.size() && line[i] == ',')
        ++i;
      else if (i < line.size() && line[i] != '}')
        return std::nullopt;
    }
    if (i >= line.size())
      return std::nullopt;
    ++i; // '}'
  }
  if (i >= line.size() || line[i] != ' ')
    return std::nullopt;
  auto text = line.substr(i + 1);
  if (text.empty() || text.find(' ') != std::string::npos)
    return std::nullopt;
  if (text == "+Inf" || text == "-Inf" || text == "NaN") {
    s.value = text == "NaN" ? 0 : (text[0] == '+' ? 1e308 : -1e308);
    return s;
  }
  char* end = nullptr;
  s.value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size())
    return std::nullopt;
  return s;
}

/// Returns every sample of `text`; fails the test at the first line that is
/// neither a sample, a `# HELP`/`# TYPE` line of a known type, nor follows
/// its family's `# TYPE`.
std::vector<sample> parse_exposition(const std::string& text) {
  std::vector<sample> result;
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::istringstream in{text};
  std::string line;
  std::map<std::string, std::string> types;
  while (std::getline(in, line)) {
    EXPECT_FALSE(line.empty()) << "empty line";
    if (line.rfind("# HELP ", 0) == 0)
      continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream parts{line.substr(7)};
      std::string name, type, rest;
      parts >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "histogram" || type == "gauge")
        << line;
      EXPECT_FALSE(parts >> rest) << line;
      EXPECT_TRUE(types.emplace(name, type).second) << "twice: " << line;
      continue;
    }
    auto s = parse_sample(line);
    if (!s) {
      ADD_FAILURE() << "not a sample line: " << line;
      continue;
    }
    // Every sample belongs to a family declared before it.
    auto family = s->name;
    for (auto suffix : {"_bucket", "_sum", "_count"}) {
      std::string sfx = suffix;
      if (family.size() > sfx.size()
          && family.compare(family.size() - sfx.size(), sfx.size(), sfx) == 0
          && types.count(family.substr(0, family.size() - sfx.size())) > 0) {
        family.resize(family.size() - sfx.size());
        break;
      }
    }
    EXPECT_TRUE(types.count(family) > 0) << "no # TYPE for " << line;
    result.push_back(std::move(*s));
  }
  return result;
}

/// Returns the value of the one sample named `name` with exactly `labels`.
std::optional<double>
find_value(const std::vector<sample>& xs, const std::string& name,
           const std::map<std::string, std::string>& labels) {
  for (const auto& x : xs)
    if (x.name == name && x.labels == labels)
      return x.value;
  return std::nullopt;
}

} // namespace

TEST(histogram, buckets_are_cumulative) {
  histogram h{{1, 2, 5}};
  for (auto v : {0.5, 1.0, 1.5, 2.0, 3.0, 10.0, 100.0})
    h.observe(v);
  EXPECT_EQ(h.cumulative(0), 2u); // 0.5, 1.0 (bounds are inclusive)
  EXPECT_EQ(h.cumulative(1), 4u); // + 1.5, 2.0
  EXPECT_EQ(h.cumulative(2), 5u); // + 3.0
  EXPECT_EQ(h.cumulative(3), 7u); // +Inf: everything
  EXPECT_EQ(h.count(), 7u);
  EXPECT_DOUBLE_EQ(h.sum(), 118.0);
}

TEST(histogram, sum_keeps_microseconds) {
  histogram h{histogram::latency_bounds()};
  h.observe(0.000'25);
  h.observe(0.001'5);
  h.observe(2.0);
  EXPECT_NEAR(h.sum(), 2.001'75, 1e-9);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.cumulative(0), 1u); // <= 0.5 ms
}

TEST(histogram, default_bounds_are_ascending) {
  for (const auto& b :
       {histogram::latency_bounds(), histogram::size_bounds()}) {
    ASSERT_FALSE(b.empty());
    for (size_t i = 1; i < b.size(); ++i)
      EXPECT_LT(b[i - 1], b[i]);
  }
  EXPECT_DOUBLE_EQ(histogram::latency_bounds().front(), 0.0005);
  EXPECT_DOUBLE_EQ(histogram::latency_bounds().back(), 10.0);
  EXPECT_DOUBLE_EQ(histogram::size_bounds().front(), 1.0);
  EXPECT_DOUBLE_EQ(histogram::size_bounds().back(), 1024.0);
}

TEST(histogram, concurrent_observations_are_all_counted) {
  histogram h{{1}};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&h] {
      for (int i = 0; i < 10'000; ++i)
        h.observe(0.5);
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(h.count(), 40'000u);
  EXPECT_EQ(h.cumulative(0), 40'000u);
  EXPECT_NEAR(h.sum(), 20'000.0, 1e-6);
}

TEST(metrics, of_returns_the_same_entry_for_the_same_name) {
  metrics m;
  auto& a = m.of("purchase");
  auto& b = m.of("purchase");
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &m.of("trade"));
  EXPECT_EQ(&a.step_latency("pay"), &a.step_latency("pay"));
}

TEST(metrics, definitions_beyond_the_cap_share_other) {
  metrics m;
  std::vector<saga::definition_metrics*> own;
  for (size_t i = 0; i < metrics::max_definitions; ++i)
    own.push_back(&m.of("def" + std::to_string(i)));
  auto& other = m.of("one-too-many");
  EXPECT_EQ(&other, &m.of("another-one"));
  EXPECT_EQ(&other, &m.of("_other"));
  for (auto* x : own)
    EXPECT_NE(x, &other);
  // Names that got their own entry keep it.
  EXPECT_EQ(own.front(), &m.of("def0"));
  other.started += 2;
  auto samples = parse_exposition(m.prometheus_text());
  EXPECT_EQ(find_value(samples, "saga_sagas_started_total",
                       {{"definition", "_other"}}),
            2.0);
  EXPECT_FALSE(find_value(samples, "saga_sagas_started_total",
                          {{"definition", "one-too-many"}}));
  size_t started_series = 0;
  for (const auto& s : samples)
    if (s.name == "saga_sagas_started_total")
      ++started_series;
  EXPECT_EQ(started_series, metrics::max_definitions + 1);
}

TEST(metrics, steps_beyond_the_cap_share_other) {
  metrics m;
  auto& d = m.of("purchase");
  for (size_t i = 0; i < metrics::max_steps_per_definition; ++i)
    d.step_latency("s" + std::to_string(i));
  auto& other = d.step_latency("extra");
  EXPECT_EQ(&other, &d.step_latency("extra2"));
  other.observe(0.1);
  auto samples = parse_exposition(m.prometheus_text());
  EXPECT_EQ(find_value(samples, "saga_step_latency_seconds_count",
                       {{"definition", "purchase"}, {"step", "_other"}}),
            1.0);
}

TEST(metrics, extra_gauges_follow_and_unknown_ones_are_left_out) {
  metrics m;
  auto text = m.prometheus_text(
    {{"saga_unfinished_sagas", "Known.", 7}, {"saga_failed_sagas", "?", -1}});
  auto samples = parse_exposition(text);
  EXPECT_EQ(find_value(samples, "saga_unfinished_sagas", {}), 7.0);
  EXPECT_NE(text.find("# TYPE saga_unfinished_sagas gauge"), std::string::npos);
  EXPECT_EQ(text.find("saga_failed_sagas"), std::string::npos) << text;
}

TEST(metrics, label_values_are_escaped) {
  metrics m;
  std::string nasty = "a\\b\"c\nd";
  m.of(nasty).completed = 3;
  m.of(nasty).step_latency("st\"ep").observe(0.002);
  auto text = m.prometheus_text();
  EXPECT_NE(text.find(
              R"(saga_sagas_completed_total{definition="a\\b\"c\nd"} 3)"),
            std::string::npos)
    << text;
  auto samples = parse_exposition(text);
  EXPECT_EQ(find_value(samples, "saga_sagas_completed_total",
                       {{"definition", nasty}}),
            3.0);
  EXPECT_EQ(find_value(samples, "saga_step_latency_seconds_bucket",
                       {{"definition", nasty},
                        {"step", "st\"ep"},
                        {"le", "0.0025"}}),
            1.0);
}

TEST(metrics, exposition_has_every_family_and_parses) {
  metrics m;
  auto& p = m.of("purchase");
  p.started = 10;
  p.completed = 7;
  p.compensated = 2;
  p.failed = 1;
  p.retries = 4;
  p.step_latency("pay").observe(0.000'4);
  p.step_latency("pay").observe(0.003);
  p.step_latency("pay").observe(20);
  m.saga_restarts = 1;
  m.sagas_parked = 2;
  m.sagas_recovered = 3;
  m.recoveries = 4;
  m.failovers = 5;
  m.operator_retries = 6;
  m.operator_aborts = 7;
  m.journal_batch_size.observe(3);
  m.journal_batch_latency.observe(0.01);
  m.sagas_in_flight = 12;
  m.sagas_queued = 3;
  m.saga_duration.observe(0.2);
  m.saga_duration.observe(7200);
  auto text = m.prometheus_text();
  auto samples = parse_exposition(text);
  const std::map<std::string, std::string> def{{"definition", "purchase"}};
  EXPECT_EQ(find_value(samples, "saga_sagas_started_total", def), 10.0);
  EXPECT_EQ(find_value(samples, "saga_sagas_completed_total", def), 7.0);
  EXPECT_EQ(find_value(samples, "saga_sagas_compensated_total", def), 2.0);
  EXPECT_EQ(find_value(samples, "saga_sagas_failed_total", def), 1.0);
  EXPECT_EQ(find_value(samples, "saga_step_retries_total", def), 4.0);
  EXPECT_EQ(find_value(samples, "saga_actor_restarts_total", {}), 1.0);
  EXPECT_EQ(find_value(samples, "saga_sagas_parked_total", {}), 2.0);
  EXPECT_EQ(find_value(samples, "saga_sagas_recovered_total", {}), 3.0);
  EXPECT_EQ(find_value(samples, "saga_recoveries_total", {}), 4.0);
  EXPECT_EQ(find_value(samples, "saga_failovers_total", {}), 5.0);
  EXPECT_EQ(find_value(samples, "saga_operator_retries_total", {}), 6.0);
  EXPECT_EQ(find_value(samples, "saga_operator_aborts_total", {}), 7.0);
  // The step histogram: cumulative buckets, +Inf equal to the count.
  auto bucket = [&](const std::string& le) {
    return find_value(samples, "saga_step_latency_seconds_bucket",
                      {{"definition", "purchase"},
                       {"step", "pay"},
                       {"le", le}});
  };
  EXPECT_EQ(bucket("0.0005"), 1.0);
  EXPECT_EQ(bucket("0.001"), 1.0);
  EXPECT_EQ(bucket("0.005"), 2.0);
  EXPECT_EQ(bucket("10"), 2.0);
  EXPECT_EQ(bucket("+Inf"), 3.0);
  const std::map<std::string, std::string> step{{"definition", "purchase"},
                                                {"step", "pay"}};
  EXPECT_EQ(find_value(samples, "saga_step_latency_seconds_count", step), 3.0);
  auto sum = find_value(samples, "saga_step_latency_seconds_sum", step);
  ASSERT_TRUE(sum);
  EXPECT_NEAR(*sum, 20.003'4, 1e-6);
  EXPECT_EQ(find_value(samples, "saga_journal_batch_size_bucket",
                       {{"le", "2"}}),
            0.0);
  EXPECT_EQ(find_value(samples, "saga_journal_batch_size_bucket",
                       {{"le", "4"}}),
            1.0);
  EXPECT_EQ(find_value(samples, "saga_journal_batch_size_count", {}), 1.0);
  EXPECT_EQ(find_value(samples, "saga_journal_batch_latency_seconds_count", {}),
            1.0);
  EXPECT_EQ(find_value(samples, "saga_sagas_in_flight", {}), 12.0);
  EXPECT_EQ(find_value(samples, "saga_sagas_queued", {}), 3.0);
  EXPECT_EQ(find_value(samples, "saga_saga_duration_seconds_bucket",
                       {{"le", "0.5"}}),
            1.0);
  EXPECT_EQ(find_value(samples, "saga_saga_duration_seconds_bucket",
                       {{"le", "+Inf"}}),
            2.0);
  EXPECT_EQ(find_value(samples, "caf_saga_build_info",
                       {{"version", SAGA_VERSION_FOR_TEST}, {"caf", "0.17.6"}}),
            1.0);
  for (auto family :
       {"saga_sagas_started_total", "saga_step_latency_seconds",
        "saga_sagas_in_flight", "saga_saga_duration_seconds",
        "caf_saga_build_info", "saga_journal_batch_size",
        "saga_journal_batch_latency_seconds", "saga_operator_aborts_total"}) {
    EXPECT_NE(text.find(std::string{"# HELP "} + family + ' '),
              std::string::npos)
      << family;
    EXPECT_NE(text.find(std::string{"# TYPE "} + family + ' '),
              std::string::npos)
      << family;
  }
}

TEST(metrics, empty_registry_still_parses) {
  metrics m;
  auto samples = parse_exposition(m.prometheus_text());
  EXPECT_EQ(find_value(samples, "saga_failovers_total", {}), 0.0);
  EXPECT_EQ(find_value(samples, "saga_journal_batch_size_count", {}), 0.0);
}
