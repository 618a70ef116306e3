// bench_report: turns the results of scripts/bench.sh into docs/benchmarks.md
// and its plots (docs/bench/*.svg).
//
//   bench_report --results DIR --docs DIR [--total-seconds S]
//   bench_report --results DIR --best memory|redis
//
// DIR holds what bench.sh wrote: env.json (machine, versions, Redis
// configuration, suite settings), stages.tsv (stage timings), saga_bench's
// JSON files (closed_<journal>_c<N>.json, failure_<journal>.json,
// open_redis_f<percent>.json, inflight_<N>.json, recover.json,
// remote_redis.json), cluster_failover's failover.json, micro_bench's
// micro.json (Google Benchmark), redis-benchmark's CSV files and the text
// output of restart_latency and fanout_speedup. A stage that was not measured
// left <name>.skipped with the reason instead; the report says so.
//
// The first form writes the report: every figure of the run, the targets of
// issues 9 and 19 beside what was measured (met / MISSED), the references,
// and three hand-written SVG plots. The second prints the best closed-loop
// throughput of a journal and the concurrency it was reached at ("<sagas/s>
// <in flight>"), which bench.sh uses to place the open-loop and failure runs.
//
// No figure is written here: everything comes from the files of the run.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/args.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// -- reading the results ---------------------------------------------------------

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in{p};
  if (!in)
    return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<json> read_json(const fs::path& p) {
  auto text = read_text(p);
  if (!text)
    return std::nullopt;
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) {
    std::fprintf(stderr, "bench_report: %s is not valid JSON\n",
                 p.string().c_str());
    return std::nullopt;
  }
  return j;
}

/// The value at a path of object keys, if it is a number (bools count 0/1).
std::optional<double> num(const json& j,
                          std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k))
      return std::nullopt;
    cur = &(*cur)[k];
  }
  if (cur->is_number())
    return cur->get<double>();
  if (cur->is_boolean())
    return cur->get<bool>() ? 1.0 : 0.0;
  return std::nullopt;
}

std::string str(const json& j, std::initializer_list<const char*> path,
                const std::string& fallback = "?") {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k))
      return fallback;
    cur = &(*cur)[k];
  }
  if (cur->is_string())
    return cur->get<std::string>();
  if (cur->is_null())
    return fallback;
  return cur->dump();
}

std::string trim(std::string s) {
  while (!s.empty()
         && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ')
    ++i;
  return s.substr(i);
}

/// Files "<prefix><number>.json" in dir, by number.
std::vector<std::pair<double, json>> numbered(const fs::path& dir,
                                              const std::string& prefix) {
  std::vector<std::pair<double, json>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator{dir, ec}) {
    auto name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || e.path().extension() != ".json")
      continue;
    auto mid = name.substr(prefix.size(), name.size() - prefix.size() - 5);
    char* end = nullptr;
    double n = std::strtod(mid.c_str(), &end);
    if (mid.empty() || end != mid.c_str() + mid.size())
      continue;
    if (auto j = read_json(e.path()))
      out.emplace_back(n, std::move(*j));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

/// The reason a stage left, or nullopt if it did not skip.
std::optional<std::string> skipped(const fs::path& dir,
                                   const std::string& name) {
  auto t = read_text(dir / (name + ".skipped"));
  if (!t)
    return std::nullopt;
  auto s = trim(*t);
  return s.empty() ? std::string{"skipped"} : s;
}

/// Requests per second of a redis-benchmark --csv file (second line, second
/// field).
std::optional<double> redis_benchmark_rps(const fs::path& p) {
  auto t = read_text(p);
  if (!t)
    return std::nullopt;
  std::istringstream in{*t};
  std::string header, row;
  if (!std::getline(in, header) || !std::getline(in, row))
    return std::nullopt;
  // "XADD ...","540000.00",...
  auto a = row.find("\",\"");
  if (a == std::string::npos)
    return std::nullopt;
  return std::strtod(row.c_str() + a + 3, nullptr);
}

// -- formatting --------------------------------------------------------------------

std::string fixed(double x, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, x);
  return buf;
}

/// 1234567.8 -> "1,234,568".
std::string grouped(double x) {
  if (!std::isfinite(x))
    return "?";
  bool neg = x < 0;
  auto s = fixed(std::fabs(x), 0);
  std::string out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n > 0 && n % 3 == 0)
      out.push_back(',');
    out.push_back(*it);
    ++n;
  }
  if (neg)
    out.push_back('-');
  return {out.rbegin(), out.rend()};
}

/// Milliseconds from microseconds, 3 significant decimals below 10 ms.
std::string ms(double us) {
  double v = us / 1000.0;
  if (v >= 1000)
    return grouped(v);
  return fixed(v, v < 10 ? 3 : (v < 100 ? 2 : 1));
}

std::string mib(double bytes) {
  return fixed(bytes / 1048576.0, 1);
}

std::string gib(double bytes) {
  return fixed(bytes / 1073741824.0, 2);
}

/// Seconds with two decimals; a negative figure (not measured) is "-".
std::string seconds2(double s) {
  return s < 0 ? "-" : fixed(s, 2);
}

std::string pct(double fraction) {
  return fixed(fraction * 100, 1) + "%";
}

std::string opt_or(const std::optional<double>& v,
                   const std::function<std::string(double)>& f,
                   const std::string& none = "-") {
  return v ? f(*v) : none;
}

/// Short axis label, up to 3 significant digits: 1500 -> "1.5k", 2000000 ->
/// "2M", 0.25 -> "0.25".
std::string short_num(double v) {
  auto sig3 = [](double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", x);
    return std::string{buf};
  };
  double a = std::fabs(v);
  if (a >= 1e9)
    return sig3(v / 1e9) + "G";
  if (a >= 1e6)
    return sig3(v / 1e6) + "M";
  if (a >= 1e4)
    return sig3(v / 1e3) + "k";
  if (a >= 1e3 && std::fabs(v - std::round(v)) < 1e-9)
    return std::fabs(std::fmod(v, 1000)) < 1e-9 ? sig3(v / 1e3) + "k"
                                                : fixed(v, 0);
  return sig3(v);
}

std::string xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// -- SVG plots -----------------------------------------------------------------------

struct series {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;
  bool dashed = false;
};

/// A horizontal line (a target), named in the legend.
struct ref_line {
  double y;
  std::string label;
  std::string color;
};

struct axis {
  std::string label;
  bool log = false;
  std::vector<double> ticks; // empty: chosen here
  std::function<std::string(double)> format = short_num;
};

double nice_step(double range) {
  double raw = range / 5;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag)
      return m * mag;
  return 10 * mag;
}

/// Domain and ticks of an axis over the values it must show.
void fit_axis(axis& a, std::vector<double> values, double& lo, double& hi) {
  if (a.log) {
    values.erase(std::remove_if(values.begin(), values.end(),
                                [](double v) { return !(v > 0); }),
                 values.end());
  }
  if (values.empty())
    values = {a.log ? 1.0 : 0.0, a.log ? 10.0 : 1.0};
  auto [mn_it, mx_it] = std::minmax_element(values.begin(), values.end());
  double mn = *mn_it, mx = *mx_it;
  if (a.log) {
    if (!a.ticks.empty()) {
      mn = std::min(mn, *std::min_element(a.ticks.begin(), a.ticks.end()));
      mx = std::max(mx, *std::max_element(a.ticks.begin(), a.ticks.end()));
      lo = mn / 1.6;
      hi = mx * 1.6;
      return;
    }
    double d0 = std::floor(std::log10(mn));
    double d1 = std::ceil(std::log10(mx));
    if (d1 <= d0)
      d1 = d0 + 1;
    lo = std::pow(10.0, d0);
    hi = std::pow(10.0, d1);
    bool subticks = d1 - d0 <= 2;
    for (double d = d0; d <= d1; ++d) {
      double base = std::pow(10.0, d);
      a.ticks.push_back(base);
      if (subticks && d < d1) {
        a.ticks.push_back(2 * base);
        a.ticks.push_back(5 * base);
      }
    }
    return;
  }
  lo = std::min(0.0, mn);
  if (mx <= lo)
    mx = lo + 1;
  double step = nice_step((mx - lo) * 1.05);
  hi = lo + std::ceil((mx - lo) * 1.05 / step) * step;
  if (a.ticks.empty())
    for (double t = lo; t <= hi + step / 2; t += step)
      a.ticks.push_back(t);
}

std::string svg_plot(const std::string& title, axis x, axis y,
                     const std::vector<series>& data,
                     const std::vector<ref_line>& refs) {
  constexpr double width = 760, height = 420;
  constexpr double left = 78, right = 200, top = 44, bottom = 58;
  const double pw = width - left - right, ph = height - top - bottom;
  std::vector<double> xs, ys;
  for (const auto& s : data)
    for (auto [px, py] : s.points) {
      xs.push_back(px);
      ys.push_back(py);
    }
  for (const auto& r : refs)
    ys.push_back(r.y);
  double x0, x1, y0, y1;
  fit_axis(x, xs, x0, x1);
  fit_axis(y, ys, y0, y1);
  auto map = [](const axis& a, double v, double lo, double hi) {
    if (a.log)
      return (std::log10(v) - std::log10(lo))
             / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  };
  auto sx = [&](double v) { return left + map(x, v, x0, x1) * pw; };
  auto sy = [&](double v) { return top + ph - map(y, v, y0, y1) * ph; };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
    << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << ' ' << height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << left + pw / 2
    << "\" y=\"24\" text-anchor=\"middle\" "
       "font-size=\"15\" font-weight=\"bold\">"
    << xml(title) << "</text>\n";
  // Grid and ticks.
  for (double t : x.ticks) {
    if (t < x0 || t > x1 || (x.log && t <= 0))
      continue;
    double px = sx(t);
    o << "<line x1=\"" << px << "\" y1=\"" << top << "\" x2=\"" << px
      << "\" y2=\"" << top + ph << "\" stroke=\"#e4e4e4\"/>\n"
      << "<text x=\"" << px << "\" y=\"" << top + ph + 17
      << "\" text-anchor=\"middle\">" << xml(x.format(t)) << "</text>\n";
  }
  for (double t : y.ticks) {
    if (t < y0 || t > y1 || (y.log && t <= 0))
      continue;
    double py = sy(t);
    o << "<line x1=\"" << left << "\" y1=\"" << py << "\" x2=\"" << left + pw
      << "\" y2=\"" << py << "\" stroke=\"#e4e4e4\"/>\n"
      << "<text x=\"" << left - 6 << "\" y=\"" << py + 4
      << "\" text-anchor=\"end\">" << xml(y.format(t)) << "</text>\n";
  }
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw
    << "\" height=\"" << ph << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << left + pw / 2 << "\" y=\"" << height - 14
    << "\" text-anchor=\"middle\">" << xml(x.label + (x.log ? " (log)" : ""))
    << "</text>\n";
  o << "<text transform=\"translate(18," << top + ph / 2
    << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml(y.label + (y.log ? " (log)" : "")) << "</text>\n";
  // Targets.
  for (const auto& r : refs) {
    if (r.y < y0 || r.y > y1)
      continue;
    double py = sy(r.y);
    o << "<line x1=\"" << left << "\" y1=\"" << py << "\" x2=\"" << left + pw
      << "\" y2=\"" << py << "\" stroke=\"" << r.color
      << "\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"><title>"
      << xml(r.label) << "</title></line>\n";
  }
  // Series.
  for (const auto& s : data) {
    std::ostringstream pts;
    for (auto [px, py] : s.points) {
      if ((x.log && px <= 0) || (y.log && py <= 0))
        continue;
      pts << sx(px) << ',' << sy(py) << ' ';
    }
    o << "<polyline fill=\"none\" stroke=\"" << s.color
      << "\" stroke-width=\"2\""
      << (s.dashed ? " stroke-dasharray=\"4 3\"" : "") << " points=\""
      << pts.str() << "\"/>\n";
    for (auto [px, py] : s.points) {
      if ((x.log && px <= 0) || (y.log && py <= 0))
        continue;
      o << "<circle cx=\"" << sx(px) << "\" cy=\"" << sy(py)
        << "\" r=\"3.5\" fill=\"" << s.color << "\"><title>" << xml(s.name)
        << ": " << xml(x.format(px)) << ", " << xml(short_num(py))
        << "</title></circle>\n";
    }
  }
  // Legend, right of the plot.
  double ly = top + 8;
  for (const auto& s : data) {
    o << "<line x1=\"" << left + pw + 14 << "\" y1=\"" << ly << "\" x2=\""
      << left + pw + 40 << "\" y2=\"" << ly << "\" stroke=\"" << s.color
      << "\" stroke-width=\"2\""
      << (s.dashed ? " stroke-dasharray=\"4 3\"" : "") << "/>\n<circle cx=\""
      << left + pw + 27 << "\" cy=\"" << ly << "\" r=\"3.5\" fill=\"" << s.color
      << "\"/>\n"
      << "<text x=\"" << left + pw + 46 << "\" y=\"" << ly + 4 << "\">"
      << xml(s.name) << "</text>\n";
    ly += 20;
  }
  for (const auto& r : refs) {
    o << "<line x1=\"" << left + pw + 14 << "\" y1=\"" << ly << "\" x2=\""
      << left + pw + 40 << "\" y2=\"" << ly << "\" stroke=\"" << r.color
      << "\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\n"
      << "<text x=\"" << left + pw + 46 << "\" y=\"" << ly + 4 << "\">"
      << xml(r.label) << "</text>\n";
    ly += 20;
  }
  o << "</svg>\n";
  return o.str();
}

// -- the report ------------------------------------------------------------------------

// Targets of issue 9.
constexpr double target_redis_sagas = 30'000;
constexpr double target_events_fraction = 0.5;
constexpr double target_memory_sagas = 200'000;
constexpr double target_p99_us = 2'000;
constexpr double target_inflight_sagas = 1'000'000;
constexpr double target_inflight_bytes = 4.0 * 1073741824.0;
constexpr double target_recover_sagas = 100'000;
constexpr double target_recover_seconds = 10;

// Targets of issue 19.
constexpr double target19_lone_p50_us = 350; // 1 saga in flight
constexpr double target19_lone_p99_us = 1'000;
constexpr double target19_round_trips = 8;   // p50 over the PING round trip
constexpr double target19_redis_cpu_us = 35; // per saga
constexpr double target19_redis_sagas = 20'000;
constexpr double target19_p99_us = 2'000; // at 50% of the best throughput
constexpr double target19_recover_seconds = 5;

const char* color_memory = "#1f77b4";
const char* color_redis = "#d62728";

struct target_row {
  std::string what, goal, measured, mark;
};

std::string met(bool ok) {
  return ok ? "met" : "**MISSED**";
}

const std::string not_measured = "not measured";

/// The run with the highest sagas/s, if any.
const std::pair<double, json>*
best_of(const std::vector<std::pair<double, json>>& runs) {
  const std::pair<double, json>* best = nullptr;
  for (const auto& r : runs) {
    auto v = num(r.second, {"sagas_per_s"});
    if (v && (!best || *v > *num(best->second, {"sagas_per_s"})))
      best = &r;
  }
  return best;
}

/// One saga_bench run as a Markdown table row.
std::string bench_row(const std::string& first, const json& j, bool redis) {
  std::ostringstream o;
  auto lat = [&](const char* p) {
    return opt_or(num(j, {"latency_us", p}), ms);
  };
  o << "| " << first << " | " << opt_or(num(j, {"sagas_per_s"}), grouped)
    << " | " << opt_or(num(j, {"events_per_s"}), grouped) << " | " << lat("p50")
    << " | " << lat("p90") << " | " << lat("p99") << " | " << lat("p999")
    << " | " << lat("max") << " | "
    << grouped(num(j, {"completed"}).value_or(0)) << " / "
    << grouped(num(j, {"compensated"}).value_or(0)) << " / "
    << grouped(num(j, {"rejected"}).value_or(0)) << " / "
    << grouped(num(j, {"errors"}).value_or(0)) << " | "
    << opt_or(num(j, {"memory", "peak_rss_bytes"}), mib);
  if (redis) {
    o << " | "
      << opt_or(num(j, {"redis_commands_per_saga"}),
                [](double v) { return fixed(v, 1); })
      << " | " << opt_or(num(j, {"ceiling", "xadd_per_s"}), grouped) << " | "
      << opt_or(num(j, {"ceiling", "events_fraction"}), pct);
  }
  o << " |\n";
  return o.str();
}

std::string bench_header(const std::string& first, bool redis) {
  std::string h
    = "| " + first
      + " | sagas/s | events/s | p50 ms | p90 ms | p99 ms | p99.9 ms "
        "| max ms | completed / compensated / rejected / errors | "
        "peak RSS MiB";
  std::string sep = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:";
  if (redis) {
    h += " | Redis cmds/saga | XADD ceiling/s | events/s vs ceiling";
    sep += "|---:|---:|---:";
  }
  return h + " |\n" + sep + "|\n";
}

/// The results of one run, read from the results directory.
struct report_input {
  fs::path dir;  // the results
  fs::path docs; // where benchmarks.md and bench/*.svg go
  std::optional<double> total_seconds;
  json env;
  std::vector<std::pair<double, json>> closed_memory, closed_redis, open_redis,
    inflight, http_memory;
  std::vector<std::pair<double, std::string>> inflight_skipped; // size, why
  std::optional<json> failure_memory, failure_redis, recover, remote, failover,
    micro;
  // The best closed-loop runs (into closed_memory and closed_redis).
  const std::pair<double, json>* best_mem = nullptr;
  const std::pair<double, json>* best_redis = nullptr;
  bool svg_failed = false;

  void write_svg(const std::string& name, const std::string& svg) {
    std::error_code ec;
    fs::create_directories(docs / "bench", ec);
    std::ofstream out{docs / "bench" / name};
    out << svg;
    if (!out)
      svg_failed = true;
  }
};

/// Fills `in` from in.dir.
void load(report_input& in) {
  in.env = read_json(in.dir / "env.json").value_or(json::object());
  in.closed_memory = numbered(in.dir, "closed_memory_c");
  in.closed_redis = numbered(in.dir, "closed_redis_c");
  in.open_redis = numbered(in.dir, "open_redis_f");
  in.inflight = numbered(in.dir, "inflight_");
  in.http_memory = numbered(in.dir, "http_memory_c");
  {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator{in.dir, ec}) {
      auto name = e.path().filename().string();
      if (name.rfind("inflight_", 0) != 0 || e.path().extension() != ".skipped")
        continue;
      auto stem = e.path().stem().string(); // inflight_<N>
      auto mid = stem.substr(9);
      char* end = nullptr;
      double n = std::strtod(mid.c_str(), &end);
      if (!mid.empty() && end == mid.c_str() + mid.size())
        in.inflight_skipped.emplace_back(n, *skipped(in.dir, stem));
    }
    std::sort(in.inflight_skipped.begin(), in.inflight_skipped.end());
  }
  in.failure_memory = read_json(in.dir / "failure_memory.json");
  in.failure_redis = read_json(in.dir / "failure_redis.json");
  in.recover = read_json(in.dir / "recover.json");
  in.remote = read_json(in.dir / "remote_redis.json");
  in.failover = read_json(in.dir / "failover.json");
  in.micro = read_json(in.dir / "micro.json");
  in.best_mem = best_of(in.closed_memory);
  in.best_redis = best_of(in.closed_redis);
}

/// The title, when and how the run was made, warnings.
void header_section(std::ostream& md, const report_input& in) {
  const auto& env = in.env;
  const auto& total_seconds = in.total_seconds;
  md << "# Benchmarks\n\n"
     << "<!-- Generated by scripts/bench.sh (bench/bench_report.cpp) from one "
        "run; run scripts/bench.sh again rather than editing. -->\n\n"
     << "Measured on " << str(env, {"date"}) << " by `scripts/bench.sh` at "
     << "commit " << str(env, {"commit"})
     << (total_seconds
           ? ", in " + fixed(*total_seconds, 0) + " s including setup and build"
           : std::string{})
     << ". Every figure on this page comes from that run; the references "
        "from issue 9 are marked as such.\n\n";
  if (auto busy = num(env, {"cpu_busy_percent_before_measuring"});
      busy && *busy > 20)
    md << "**The machine was not idle:** other processes kept "
       << fixed(*busy, 0)
       << "% of its CPU time busy in the second before the measurements "
          "began, so these figures are likely lower and noisier than on an "
          "idle machine.\n\n";
  if (env.value("settings", json::object()).value("quick", false))
    md << "**This was a QUICK=1 smoke run: short windows and small sizes; its "
          "figures are not representative.**\n\n";
}

/// Machine, versions, the Redis configuration, what the figures mean.
void machine_section(std::ostream& md, const report_input& in) {
  const auto& env = in.env;
  md << "## Machine and versions\n\n| | |\n|---|---|\n"
     << "| CPU | " << str(env, {"cpu_model"}) << " |\n"
     << "| cores | " << str(env, {"cores"}) << " |\n"
     << "| RAM | " << opt_or(num(env, {"ram_bytes"}), gib) << " GiB |\n"
     << "| kernel | " << str(env, {"kernel"}) << " |\n"
     << "| OS | " << str(env, {"os"}) << " |\n"
     << "| load average (1, 5, 15 min) before the run | "
     << str(env, {"loadavg_at_start"}) << " |\n"
     << "| CPU busy in the second before the measurements (other processes) | "
     << opt_or(
          num(env, {"cpu_busy_percent_before_measuring"}),
          [](double v) { return fixed(v, 0) + "%"; }, "?")
     << " |\n";
  if (env.contains("versions") && env["versions"].is_object()) {
    // The ones issue 9 asks for first, then the rest.
    std::vector<std::string> keys{"g++", "CAF (libcaf-dev)",
                                  "hiredis (libhiredis-dev)", "redis-server"};
    for (auto& [k, v] : env["versions"].items())
      if (std::find(keys.begin(), keys.end(), k) == keys.end())
        keys.push_back(k);
    for (const auto& k : keys)
      if (env["versions"].contains(k))
        md << "| " << k << " | " << str(env["versions"], {k.c_str()}) << " |\n";
  }
  md << "| build | " << str(env, {"settings", "build_type"}) << " |\n\n";
  md << "**Redis configuration used:** `appendonly "
     << str(env, {"redis", "appendonly"}) << "`, `appendfsync "
     << str(env, {"redis", "appendfsync"}) << "`, `save \""
     << str(env, {"redis", "save"}, "") << "\"` (read back with CONFIG GET); "
     << str(env, {"redis", "where"}, "") << ". The Redis data is flushed "
     << "before each saga_bench run. cluster_failover starts its own "
        "redis-server per run with the same persistence settings.\n\n";
  md << "saga_bench runs 3-step sagas (steps one after another) against "
        "in-process participants with no-op handlers behind the participant "
        "barrier. Sagas/s counts sagas that ended (completed or compensated) "
        "in a window of "
     << str(env, {"settings", "duration_s"}) << " s after "
     << str(env, {"settings", "warmup_s"})
     << " s of warm-up; latency is client-side, from `execute` to the result "
        "callback (open loop: from the scheduled start). Events/s on Redis "
        "counts the XADDs Redis executed in the window.\n\n";
}

/// The run of `runs` at `key` (its concurrency or load percent), or nullptr.
const json* run_at(const std::vector<std::pair<double, json>>& runs,
                   double key) {
  for (const auto& [k, j] : runs)
    if (std::fabs(k - key) < 1e-9)
      return &j;
  return nullptr;
}

/// Returns the row of a best closed-loop run's sagas/s against `target`.
target_row best_throughput_row(const std::string& what,
                               const std::pair<double, json>* best,
                               double target) {
  target_row r{what, ">= " + grouped(target) + " sagas/s", not_measured,
               not_measured};
  if (best) {
    double v = *num(best->second, {"sagas_per_s"});
    r.measured = grouped(v) + " sagas/s (best of the closed-loop runs, "
                 + grouped(best->first) + " in flight)";
    r.mark = met(v >= target);
  }
  return r;
}

/// Returns the row of the p99 of the open-loop Redis run at 50% of the best
/// closed-loop Redis throughput against `target_us`.
target_row half_load_p99_row(const report_input& in, const std::string& what,
                             double target_us) {
  target_row r{what, "<= " + fixed(target_us / 1000, 0) + " ms", not_measured,
               not_measured};
  const json* j = run_at(in.open_redis, 50);
  if (auto p99 = j ? num(*j, {"latency_us", "p99"}) : std::nullopt) {
    r.measured = ms(*p99) + " ms at "
                 + grouped(num(*j, {"config", "rate"}).value_or(0))
                 + " sagas/s offered ("
                 + grouped(num(*j, {"sagas_per_s"}).value_or(0)) + " ended/s)";
    r.mark = met(*p99 <= target_us);
  }
  return r;
}

/// Returns the row of the recovery run (target_recover_sagas unfinished
/// sagas back to terminal states) against `target_seconds`.
target_row recovery_row(const report_input& in, const std::string& what,
                        double target_seconds) {
  target_row r{what, "<= " + fixed(target_seconds, 0) + " s", not_measured,
               not_measured};
  if (in.recover) {
    const auto& j = *in.recover;
    auto sagas = num(j, {"recover", "sagas"}).value_or(0);
    auto recovered = num(j, {"recover", "recovered"}).value_or(0);
    auto secs = num(j, {"recover", "seconds"});
    bool all_terminal = num(j, {"recover", "all_terminal"}).value_or(0) != 0;
    if (secs) {
      r.measured = fixed(*secs, 2) + " s for " + grouped(recovered) + " of "
                   + grouped(sagas) + " sagas"
                   + (all_terminal ? ", all terminal" : ", NOT all terminal");
      if (sagas >= target_recover_sagas)
        r.mark = met(*secs <= target_seconds && all_terminal
                     && recovered >= sagas);
      else
        r.measured += " (fewer than 100,000: not comparable)";
    }
  } else if (auto why = skipped(in.dir, "recover")) {
    r.measured = not_measured + " (" + *why + ")";
  }
  return r;
}

/// Returns the row of the in-flight memory probe: the RSS of
/// target_inflight_sagas parked sagas against target_inflight_bytes.
target_row inflight_row(const report_input& in) {
  target_row r{"1,000,000 in-flight sagas (memory journal), process RSS",
               "<= " + gib(target_inflight_bytes) + " GiB", not_measured,
               not_measured};
  const std::pair<double, json>* largest = nullptr;
  for (const auto& p : in.inflight)
    if (!largest || p.first > largest->first)
      largest = &p;
  auto skip = std::find_if(in.inflight_skipped.begin(),
                           in.inflight_skipped.end(), [&](const auto& s) {
                             return s.first >= target_inflight_sagas
                                    && (!largest || s.first > largest->first);
                           });
  if (skip != in.inflight_skipped.end()) {
    r.measured = not_measured + " (" + grouped(skip->first)
                 + " sagas: " + skip->second + ")";
    largest = nullptr;
  }
  if (largest) {
    auto reached
      = num(largest->second, {"memory", "probe_sagas_in_flight"}).value_or(0);
    auto rss = num(largest->second, {"memory", "peak_rss_bytes"}).value_or(0);
    auto per = num(largest->second, {"memory", "bytes_per_in_flight_saga"})
                 .value_or(0);
    if (largest->first >= target_inflight_sagas) {
      r.measured = gib(rss) + " GiB peak RSS with " + grouped(reached) + " of "
                   + grouped(largest->first) + " sagas parked (" + grouped(per)
                   + " bytes per saga)";
      r.mark = met(reached >= target_inflight_sagas
                   && rss <= target_inflight_bytes);
    } else {
      r.measured = "largest probe " + grouped(largest->first)
                   + " sagas: " + gib(rss) + " GiB peak RSS, " + grouped(per)
                   + " bytes per saga (1,000,000 not run)";
    }
  }
  return r;
}

/// Returns "not measured" and why: the run `name` (`j`, nullptr if absent)
/// lacks `field`, or the suite skipped it (its reason).
std::string missing(const report_input& in, const std::string& name,
                    const json* j, const std::string& field) {
  if (j)
    return not_measured + " (" + name + ".json has no " + field + ")";
  if (auto why = skipped(in.dir, name))
    return not_measured + " (" + *why + ")";
  return not_measured;
}

/// Returns the row of issue 19's latency with 1 saga in flight: p50 and p99
/// of the closed-loop Redis run at concurrency 1.
target_row lone_latency_row(const report_input& in) {
  target_row r{"latency with 1 saga in flight (Redis, closed loop) (issue 19)",
               "p50 <= " + fixed(target19_lone_p50_us / 1000, 2)
                 + " ms and p99 <= " + fixed(target19_lone_p99_us / 1000, 0)
                 + " ms",
               not_measured, not_measured};
  const json* j = run_at(in.closed_redis, 1);
  auto p50 = j ? num(*j, {"latency_us", "p50"}) : std::nullopt;
  auto p99 = j ? num(*j, {"latency_us", "p99"}) : std::nullopt;
  if (!p50 || !p99) {
    r.measured = missing(in, "closed_redis_c1", j, "latency_us p50 and p99");
    return r;
  }
  r.measured = "p50 " + ms(*p50) + " ms, p99 " + ms(*p99) + " ms";
  r.mark = met(*p50 <= target19_lone_p50_us && *p99 <= target19_lone_p99_us);
  return r;
}

/// Returns the row of issue 19's p50 with 1 saga in flight in loopback round
/// trips: over the PING round trip measured before that run.
target_row round_trips_row(const report_input& in) {
  target_row r{"p50 latency with 1 saga in flight in loopback round trips "
               "(PING from one client to the same Redis, before the load) "
               "(issue 19)",
               "<= " + fixed(target19_round_trips, 0) + " round trips",
               not_measured, not_measured};
  const json* j = run_at(in.closed_redis, 1);
  auto p50 = j ? num(*j, {"latency_us", "p50"}) : std::nullopt;
  auto rt = j ? num(*j, {"round_trip_us", "p50"}) : std::nullopt;
  if (!p50 || !rt || *rt <= 0) {
    r.measured = missing(in, "closed_redis_c1", j,
                         p50 ? "round_trip_us p50" : "latency_us p50");
    return r;
  }
  double trips = *p50 / *rt;
  r.measured = fixed(trips, 1) + " round trips (p50 " + ms(*p50)
               + " ms, PING p50 " + ms(*rt) + " ms)";
  r.mark = met(trips <= target19_round_trips);
  return r;
}

/// Returns the row of issue 19's Redis CPU per saga, from the best
/// closed-loop Redis run (INFO cpu over its window).
target_row redis_cpu_row(const report_input& in) {
  target_row r{"Redis CPU per saga (INFO cpu over the window of the best "
               "closed-loop Redis run) (issue 19)",
               "<= " + fixed(target19_redis_cpu_us, 0) + " us per saga",
               not_measured, not_measured};
  const auto* best = in.best_redis;
  if (!best)
    return r;
  auto cpu = num(best->second, {"redis_cpu_us_per_saga"});
  if (!cpu || *cpu < 0) { // -1: saga_bench could not read INFO cpu
    r.measured = missing(in, "closed_redis_c" + fixed(best->first, 0),
                         &best->second, "redis_cpu_us_per_saga");
    return r;
  }
  auto cmds = num(best->second, {"redis_commands_per_saga"});
  r.measured = fixed(*cpu, 1) + " us per saga, "
               + (cmds && *cmds >= 0 ? fixed(*cmds, 1) : std::string{"?"})
               + " Redis commands per saga (best closed-loop Redis run, "
               + grouped(best->first) + " in flight)";
  r.mark = met(*cpu <= target19_redis_cpu_us);
  return r;
}

/// Each target of issue 19 beside what this run measured.
std::vector<target_row> issue19_targets(const report_input& in) {
  return {
    lone_latency_row(in),
    round_trips_row(in),
    redis_cpu_row(in),
    best_throughput_row("Redis journal, 3-step saga, closed loop (best of the "
                        "concurrency levels) (issue 19)",
                        in.best_redis, target19_redis_sagas),
    half_load_p99_row(in,
                      "p99 latency at 50% of the best closed-loop Redis "
                      "throughput (open loop) (issue 19)",
                      target19_p99_us),
    recovery_row(in,
                 "100,000 unfinished sagas recovered from Redis to terminal "
                 "states (issue 19)",
                 target19_recover_seconds),
  };
}

/// Each target of issue 9 beside what this run measured.
std::vector<target_row> evaluate_targets(const report_input& in) {
  const auto* best_redis = in.best_redis;
  std::vector<target_row> targets;
  targets.push_back(best_throughput_row(
    "Redis journal, 3-step saga, in-process participants, appendfsync "
    "everysec",
    best_redis, target_redis_sagas));
  {
    target_row r{"Redis journal: events/s vs the raw XADD ceiling of the same "
                 "run",
                 ">= " + pct(target_events_fraction), not_measured,
                 not_measured};
    if (best_redis) {
      auto f = num(best_redis->second, {"ceiling", "events_fraction"});
      auto ev = num(best_redis->second, {"events_per_s"});
      auto c = num(best_redis->second, {"ceiling", "xadd_per_s"});
      if (f && ev && c) {
        r.measured = pct(*f) + " (" + grouped(*ev) + " events/s of "
                     + grouped(*c)
                     + " XADD/s: 1 connection, 32-deep pipelines, a new stream "
                       "per XADD; in the best Redis run)";
        r.mark = met(*f >= target_events_fraction);
      }
    }
    targets.push_back(r);
  }
  targets.push_back(best_throughput_row("memory journal, 3-step saga",
                                        in.best_mem, target_memory_sagas));
  targets.push_back(half_load_p99_row(
    in,
    "p99 latency at half the maximum throughput (Redis, open loop at 50% of "
    "the best closed-loop Redis throughput)",
    target_p99_us));
  targets.push_back(inflight_row(in));
  targets.push_back(recovery_row(
    in, "100,000 unfinished sagas recovered from Redis to terminal states",
    target_recover_seconds));
  auto more = issue19_targets(in);
  targets.insert(targets.end(), more.begin(), more.end());
  return targets;
}

/// The targets table.
void targets_section(std::ostream& md, const std::vector<target_row>& targets) {
  md << "## Targets\n\n| target | goal | measured in this run | |\n"
        "|---|---|---|---|\n";
  for (const auto& t : targets)
    md << "| " << t.what << " | " << t.goal << " | " << t.measured << " | "
       << t.mark << " |\n";
  md << "\n";
}

/// The references of issue 9, and the ceilings measured in this run.
void references_section(std::ostream& md, const report_input& in) {
  const auto& dir = in.dir;
  auto rps = [&](const char* name) { return redis_benchmark_rps(dir / name); };
  md
    << "## References\n\n"
       "From issue 9 (measured elsewhere or earlier, not in this run):\n\n"
       "| system | setup | figure |\n|---|---|---|\n"
       "| DTM on Redis | 8-core app + 4-core Redis | ~10,900 sagas/s |\n"
       "| Temporal | 9 large nodes | ~2,700-2,900 workflows/s |\n"
       "| the seed library (@esengine/transaction, Node + ioredis) | this "
       "machine kind, one saga at a time | 1,471 3-step sagas/s, p99 1.5 ms |\n"
       "| the seed library | this machine kind, 64 in flight | 3,002 "
       "sagas/s, p99 27 ms |\n"
       "| redis-benchmark | pipelined XADD into one stream | ~540,000/s |\n"
       "| redis-benchmark | each XADD creates a new stream | ~200,000/s |\n\n"
       "The same ceilings measured in this run, on the Redis the sagas "
       "used:\n\n| measurement | XADD/s |\n|---|---:|\n"
    << "| redis-benchmark, one stream, no pipelining (`-P 1`) | "
    << opt_or(rps("redis_xadd_one_stream_p1.csv"), grouped, not_measured)
    << " |\n"
    << "| redis-benchmark, one stream, `-P 32` | "
    << opt_or(rps("redis_xadd_one_stream_p32.csv"), grouped, not_measured)
    << " |\n"
    << "| redis-benchmark, a new stream per XADD (`-r`), `-P 32` | "
    << opt_or(rps("redis_xadd_new_stream_p32.csv"), grouped, not_measured)
    << " |\n";
  {
    std::vector<double> ceilings;
    auto add = [&](const json& j) {
      if (auto c = num(j, {"ceiling", "xadd_per_s"}))
        ceilings.push_back(*c);
    };
    for (const auto& r : in.closed_redis)
      add(r.second);
    for (const auto& r : in.open_redis)
      add(r.second);
    if (!ceilings.empty()) {
      std::sort(ceilings.begin(), ceilings.end());
      md << "| saga_bench's ceiling (1 connection, 32-deep pipelines of "
            "journal-shaped XADDs, a new stream each; 2 s before each Redis "
            "run): median of "
         << ceilings.size() << " runs (min-max " << grouped(ceilings.front())
         << "-" << grouped(ceilings.back()) << ") | "
         << grouped(ceilings[ceilings.size() / 2]) << " |\n";
    }
  }
  md << "\n";
  {
    // The seed library's shapes, on this run's Redis journal.
    auto at = [&](double c) -> const json* {
      for (const auto& [lc, j] : in.closed_redis)
        if (lc == c)
          return &j;
      return nullptr;
    };
    const json* one = at(1);
    const json* sixty_four = at(64);
    if (one || sixty_four) {
      md << "The seed library's shapes on this run's Redis journal (3-step "
            "sagas, closed loop):\n\n| in flight | seed library | caf-saga, "
            "this run |\n|---:|---|---|\n";
      auto cell = [&](const json* j) {
        if (!j)
          return not_measured;
        return grouped(num(*j, {"sagas_per_s"}).value_or(0)) + " sagas/s, p99 "
               + opt_or(num(*j, {"latency_us", "p99"}), ms) + " ms";
      };
      md << "| 1 | 1,471 sagas/s, p99 1.5 ms | " << cell(one) << " |\n"
         << "| 64 | 3,002 sagas/s, p99 27 ms | " << cell(sixty_four)
         << " |\n\n";
    }
  }
}

/// Closed loop: throughput against concurrency, with its plot.
void throughput_section(std::ostream& md, report_input& in) {
  md << "## Throughput against concurrency (closed loop)\n\n";
  if (in.closed_memory.empty() && in.closed_redis.empty()) {
    md << not_measured << ".\n\n";
  } else {
    std::vector<double> levels;
    series sm{"memory journal", color_memory, {}};
    series sr{"Redis journal", color_redis, {}};
    for (const auto& [c, j] : in.closed_memory) {
      sm.points.emplace_back(c, num(j, {"sagas_per_s"}).value_or(0));
      levels.push_back(c);
    }
    for (const auto& [c, j] : in.closed_redis) {
      sr.points.emplace_back(c, num(j, {"sagas_per_s"}).value_or(0));
      levels.push_back(c);
    }
    std::sort(levels.begin(), levels.end());
    levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
    axis x{"sagas in flight", true, levels, short_num};
    axis y{"sagas/s", false, {}, short_num};
    std::vector<double> all;
    for (auto& s : {sm, sr})
      for (auto& p : s.points)
        all.push_back(p.second);
    all.push_back(target_memory_sagas);
    all.push_back(target_redis_sagas);
    auto [mn, mx] = std::minmax_element(all.begin(), all.end());
    y.log = *mn > 0 && *mx / *mn > 20; // targets far above the data
    in.write_svg(
      "throughput.svg",
      svg_plot("Throughput: 3-step sagas, closed loop", x, y, {sm, sr},
               {{target_memory_sagas, "memory target 200k/s", color_memory},
                {target_redis_sagas, "Redis target 30k/s", color_redis}}));
    md << "![sagas/s against sagas in flight](bench/throughput.svg)\n\n";
    if (!in.closed_memory.empty()) {
      md << "Memory journal:\n\n" << bench_header("in flight", false);
      for (const auto& [c, j] : in.closed_memory)
        md << bench_row(grouped(c), j, false);
      md << "\n";
    }
    if (!in.closed_redis.empty()) {
      md << "Redis journal:\n\n" << bench_header("in flight", true);
      for (const auto& [c, j] : in.closed_redis)
        md << bench_row(grouped(c), j, true);
      md << "\n";
    }
  }
}

/// The runs with 10% failures.
void failures_section(std::ostream& md, const report_input& in) {
  md << "## With 10% failures (compensation)\n\n"
        "The last step fails with probability 0.1, so the two steps before "
        "it are compensated; at the best concurrency of each journal.\n\n";
  if (!in.failure_memory && !in.failure_redis) {
    md << not_measured << ".\n\n";
  } else {
    md << bench_header("journal, in flight", true);
    auto row = [&](const char* name, const std::optional<json>& j) {
      if (!j)
        return;
      md << bench_row(std::string{name} + ", "
                        + grouped(
                          num(*j, {"config", "concurrency"}).value_or(0)),
                      *j, true); // "-" in the Redis columns of memory
    };
    row("memory", in.failure_memory);
    row("Redis", in.failure_redis);
    md << "\n";
    for (const auto* f : {&in.failure_memory, &in.failure_redis}) {
      if (!*f)
        continue;
      double done = num(**f, {"completed"}).value_or(0);
      double comp = num(**f, {"compensated"}).value_or(0);
      if (done + comp > 0)
        md << "- " << str(**f, {"config", "journal"}) << ": "
           << pct(comp / (done + comp)) << " of the ended sagas compensated, "
           << fixed(num(**f, {"events_per_saga"}).value_or(0), 2)
           << " events per saga.\n";
    }
    md << "\n";
  }
}

/// Open loop: latency percentiles against load, with its plot.
void latency_section(std::ostream& md, report_input& in) {
  const auto* best_redis = in.best_redis;
  md << "## Latency against load (open loop, Redis journal)\n\n";
  if (in.open_redis.empty()) {
    md << not_measured << ".\n\n";
  } else {
    md << "Sagas are started on a fixed schedule at a fraction of the best "
          "closed-loop Redis throughput of this run ("
       << (best_redis ? grouped(*num(best_redis->second, {"sagas_per_s"}))
                      : std::string{"?"})
       << " sagas/s); latency counts from the scheduled start.\n\n";
    series p50{"p50", "#2ca02c", {}}, p90{"p90", "#1f77b4", {}},
      p99{"p99", "#d62728", {}}, p999{"p99.9", "#9467bd", {}};
    std::vector<double> fr;
    for (const auto& [f, j] : in.open_redis) {
      fr.push_back(f);
      p50.points.emplace_back(f,
                              num(j, {"latency_us", "p50"}).value_or(0) / 1000);
      p90.points.emplace_back(f,
                              num(j, {"latency_us", "p90"}).value_or(0) / 1000);
      p99.points.emplace_back(f,
                              num(j, {"latency_us", "p99"}).value_or(0) / 1000);
      p999.points.emplace_back(f, num(j, {"latency_us", "p999"}).value_or(0)
                                    / 1000);
    }
    axis x{"offered load, % of the best closed-loop Redis throughput",
           false,
           {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100},
           [](double v) { return fixed(v, 0) + "%"; }};
    axis y{"latency, ms", true, {}, short_num};
    in.write_svg("latency.svg",
                 svg_plot("Latency percentiles: Redis journal, open loop", x, y,
                          {p50, p90, p99, p999},
                          {{target_p99_us / 1000, "p99 target at 50%: 2 ms",
                            "#d62728"}}));
    md << "![latency percentiles against load](bench/latency.svg)\n\n"
       << "| load | offered sagas/s | ended sagas/s | p50 ms | p90 ms | p99 ms "
          "| p99.9 ms | max ms | rejected | errors | events/s vs ceiling |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& [f, j] : in.open_redis) {
      auto lat = [&j = j](const char* p) {
        return opt_or(num(j, {"latency_us", p}), ms);
      };
      md << "| " << fixed(f, 0) << "% | "
         << opt_or(num(j, {"config", "rate"}), grouped) << " | "
         << opt_or(num(j, {"sagas_per_s"}), grouped) << " | " << lat("p50")
         << " | " << lat("p90") << " | " << lat("p99") << " | " << lat("p999")
         << " | " << lat("max") << " | "
         << grouped(num(j, {"rejected"}).value_or(0)) << " | "
         << grouped(num(j, {"errors"}).value_or(0)) << " | "
         << opt_or(num(j, {"ceiling", "events_fraction"}), pct) << " |\n";
    }
    md << "\n";
  }
}

/// The in-flight probes: RSS against sagas in flight, with its plot.
void memory_section(std::ostream& md, report_input& in) {
  md << "## Memory against sagas in flight (memory journal)\n\n";
  if (in.inflight.empty()) {
    md << not_measured << ".\n\n";
    for (const auto& [n, why] : in.inflight_skipped)
      md << "- " << grouped(n) << " sagas: " << not_measured << " (" << why
         << ")\n";
    if (!in.inflight_skipped.empty())
      md << "\n";
  } else {
    md << "saga_bench's in-flight probe (`--inflight-probe N`) starts N sagas "
          "whose first step parks at its participant, waits until all are "
          "parked, and reads the process's RSS; the growth over the RSS "
          "before the probe, divided by N, is the cost of one saga in "
          "flight.\n\n";
    series peak{"peak process RSS", color_memory, {}};
    series growth{"RSS growth while parked", "#ff7f0e", {}, true};
    std::vector<double> ns;
    for (const auto& [n, j] : in.inflight) {
      ns.push_back(n);
      peak.points.emplace_back(n,
                               num(j, {"memory", "peak_rss_bytes"}).value_or(0)
                                 / 1048576.0);
      growth.points
        .emplace_back(n, num(j, {"memory", "probe_rss_delta_bytes"}).value_or(0)
                           / 1048576.0);
    }
    axis x{"sagas parked in flight", true, ns, short_num};
    axis y{"RSS, MiB", true, {}, short_num};
    in.write_svg("memory.svg", svg_plot("Memory: parked sagas, memory journal",
                                        x, y, {peak, growth},
                                        {{target_inflight_bytes / 1048576.0,
                                          "target at 1M: 4 GiB", "#d62728"}}));
    md << "![RSS against sagas in flight](bench/memory.svg)\n\n"
       << "| sagas started | parked (reached) | RSS growth MiB | bytes per "
          "saga | peak process RSS MiB | runtime stop, s |\n"
          "|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& [n, j] : in.inflight)
      md << "| " << grouped(n) << " | "
         << opt_or(num(j, {"memory", "probe_sagas_in_flight"}), grouped)
         << " | " << opt_or(num(j, {"memory", "probe_rss_delta_bytes"}), mib)
         << " | "
         << opt_or(num(j, {"memory", "bytes_per_in_flight_saga"}), grouped)
         << " | " << opt_or(num(j, {"memory", "peak_rss_bytes"}), mib) << " | "
         << opt_or(num(j, {"stop_seconds"}), seconds2) << " |\n";
    for (const auto& [n, why] : in.inflight_skipped)
      md << "| " << grouped(n) << " | " << not_measured << ": " << why
         << " | | | | |\n";
    md << "\n";
  }
}

/// Recovery of unfinished sagas from Redis.
void recovery_section(std::ostream& md, const report_input& in) {
  const auto& dir = in.dir;
  md << "## Recovery (Redis journal)\n\n";
  if (in.recover) {
    const auto& j = *in.recover;
    md << "`saga_bench --journal redis --recover N`: N unfinished sagas in "
          "Redis, recovered by a new runtime to terminal states.\n\n"
          "| sagas | recovered | all terminal | seconds | sagas/s | "
          "recovery_concurrency |\n|---:|---:|---|---:|---:|---:|\n"
       << "| " << opt_or(num(j, {"recover", "sagas"}), grouped) << " | "
       << opt_or(num(j, {"recover", "recovered"}), grouped) << " | "
       << (num(j, {"recover", "all_terminal"}).value_or(0) != 0 ? "yes"
                                                                : "**no**")
       << " | "
       << opt_or(num(j, {"recover", "seconds"}),
                 [](double v) { return fixed(v, 2); })
       << " | " << opt_or(num(j, {"recover", "sagas_per_s"}), grouped) << " | "
       << opt_or(num(j, {"recover", "recovery_concurrency"}), grouped)
       << " |\n\n";
  } else {
    auto why = skipped(dir, "recover");
    md << not_measured << (why ? ": " + *why : std::string{}) << ".\n\n";
  }
}

/// Remote participants against in-process ones.
void remote_section(std::ostream& md, const report_input& in) {
  const auto& dir = in.dir;
  md << "## Remote participants (Redis journal)\n\n";
  if (in.remote) {
    const auto& j = *in.remote;
    md << "`saga_bench --participants remote`: the participants live on "
          "another node (a separate process on the same machine); every step "
          "crosses CAF's middleman.\n\n"
       << bench_header("participants, in flight", true)
       << bench_row("remote, "
                      + grouped(num(j, {"config", "concurrency"}).value_or(0)),
                    j, true);
    double c = num(j, {"config", "concurrency"}).value_or(0);
    for (const auto& [lc, lj] : in.closed_redis)
      if (lc == c) {
        md << bench_row("in-process, " + grouped(c), lj, true);
        auto a = num(j, {"sagas_per_s"}), b = num(lj, {"sagas_per_s"});
        if (a && b && *b > 0)
          md << "\nRemote reaches " << pct(*a / *b)
             << " of the in-process throughput at the same concurrency.\n";
      }
    md << "\n";
  } else {
    auto why = skipped(dir, "remote_redis");
    md << not_measured << (why ? ": " + *why : std::string{}) << ".\n\n";
  }
}

/// Participants over HTTP (saga_bench --participants http) next to the
/// in-process runs of stage 5 at the same concurrency.
void http_section(std::ostream& md, const report_input& in) {
  md << "## Participants over HTTP (memory journal)\n\n";
  if (in.http_memory.empty()) {
    auto why = skipped(in.dir, "http_memory_c1");
    md << not_measured << (why ? ": " + *why : std::string{}) << ".\n\n";
    return;
  }
  md << "`saga_bench --participants http`: every step is a request to a "
        "service on loopback (keep-alive; the service is the test server, "
        "in this process), next to the in-process participants of the "
        "throughput runs. Per HTTP step: the p50 latency (1 in flight) and "
        "the process CPU added, divided by the steps of a saga.\n\n"
     << bench_header("participants, in flight", false);
  std::ostringstream derived;
  for (const auto& [c, hj] : in.http_memory) {
    md << bench_row("http, " + grouped(c), hj, false);
    for (const auto& [lc, lj] : in.closed_memory) {
      if (lc != c)
        continue;
      md << bench_row("in-process, " + grouped(c), lj, false);
      double steps = num(hj, {"config", "steps"}).value_or(3);
      auto hp = num(hj, {"latency_us", "p50"}),
           lp = num(lj, {"latency_us", "p50"});
      auto hc = num(hj, {"process_cpu_us_per_saga"});
      auto lcpu = num(lj, {"process_cpu_us_per_saga"});
      derived << "- " << grouped(c) << " in flight: ";
      // Under load the p50 is mostly queueing: only a lone saga's says
      // what a step costs.
      if (hp && lp && c == 1)
        derived << "+" << fixed((*hp - *lp) / steps / 1000.0, 3)
                << " ms p50 per HTTP step, ";
      if (hc && lcpu && *hc > 0 && *lcpu > 0)
        derived << "+" << fixed((*hc - *lcpu) / steps, 0)
                << " µs CPU per HTTP step (client and service)";
      derived << "\n";
    }
  }
  md << "\n" << derived.str() << "\n";
}

/// Coordinator failover (cluster_failover).
void failover_section(std::ostream& md, const report_input& in) {
  md << "## Coordinator failover\n\n";
  if (in.failover) {
    const auto& j = *in.failover;
    md << "`bench/cluster_failover`: saga_node processes on a private Redis "
          "(appendonly yes, everysec): p hosts the participants (step delay "
       << str(j, {"config", "step_delay"}) << "), a and b coordinate with a "
       << str(j, {"config", "lease"}) << " lease; "
       << str(j, {"config", "sagas"})
       << " purchases are started on a, which gets SIGKILL once "
       << str(j, {"config", "inflight"})
       << " debits are in flight. Resumed = until b reports it resumed a's "
          "sagas; finished = until no saga of a or b is unfinished. Expected: "
          "0.75 to 1.25 leases (README, \"Deployment\").\n\n"
          "| | median ms | min ms | max ms | runs "
          "|\n|---|---:|---:|---:|---:|\n";
    auto row = [&](const char* name, const char* key) {
      if (!j.contains(key) || j[key].is_null()) {
        md << "| " << name << " | - | - | - | 0 |\n";
        return;
      }
      auto f = [&](const char* k) {
        return opt_or(num(j, {key, k}), [](double v) { return fixed(v, 0); });
      };
      md << "| " << name << " | " << f("median") << " | " << f("min") << " | "
         << f("max") << " | " << f("runs") << " |\n";
    };
    row("SIGKILL -> sagas resumed on b", "resumed_ms");
    row("SIGKILL -> all sagas finished", "finished_ms");
    md << "\nPer run:\n\n| run | resumed ms | adopt ms | sagas resumed | "
          "answered before the kill | finished ms |\n"
          "|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : j.value("runs", json::array())) {
      if (!r.value("ok", false)) {
        md << "| " << r.value("run", 0) << " | FAILED | | | | |\n";
        continue;
      }
      md << "| " << r.value("run", 0) << " | "
         << fixed(r.value("resumed_ms", 0.0), 0) << " | "
         << fixed(r.value("adopt_ms", 0.0), 0) << " | "
         << r.value("sagas_resumed", 0) << " | "
         << r.value("answered_before_kill", 0) << " | "
         << (r.value("finished_ms", -1.0) >= 0
               ? fixed(r.value("finished_ms", 0.0), 0)
               : std::string{"-"})
         << " |\n";
    }
    if (auto failed = num(j, {"failed_runs"}); failed && *failed > 0)
      md << "\n**" << fixed(*failed, 0) << " runs failed.**\n";
    md << "\n";
  } else {
    md << not_measured << ".\n\n";
  }
}

/// restart_latency and fanout_speedup, as they printed it.
void restart_fanout_section(std::ostream& md, const report_input& in) {
  const auto& dir = in.dir;
  md << "## Restart latency and fan-out\n\n";
  {
    bool any = false;
    for (const auto& [name, what] :
         std::vector<std::pair<std::string, std::string>>{
           {"restart_latency_memory", "restart_latency, memory journal"},
           {"restart_latency_redis", "restart_latency, Redis journal"},
           {"fanout_memory", "fanout_speedup, memory journal"},
           {"fanout_redis", "fanout_speedup, Redis journal"}}) {
      auto t = read_text(dir / (name + ".log"));
      if (!t)
        continue;
      std::istringstream lines{*t};
      std::string line, kept;
      while (std::getline(lines, line))
        if (line.rfind("caf-saga:", 0) != 0)
          kept += line + "\n";
      md << what << ":\n\n```\n" << kept << "```\n\n";
      any = true;
    }
    if (!any)
      md << not_measured << ".\n\n";
  }
}

/// micro_bench's Google Benchmark results.
void micro_section(std::ostream& md, const report_input& in) {
  const auto& dir = in.dir;
  md << "## Micro benchmarks\n\n";
  if (in.micro && in.micro->contains("benchmarks")) {
    const auto& ctx = (*in.micro)["context"];
    md << "`micro_bench` (Google Benchmark";
    if (ctx.is_object())
      md << ", " << ctx.value("num_cpus", 0) << " CPUs at "
         << ctx.value("mhz_per_cpu", 0) << " MHz";
    md
      << "):\n\n| benchmark | iterations | real time | CPU time | "
         "items/s | bytes/s | counters |\n|---|---:|---:|---:|---:|---:|---|\n";
    const std::vector<std::string> standard{"name",
                                            "family_index",
                                            "per_family_instance_index",
                                            "run_name",
                                            "run_type",
                                            "repetitions",
                                            "repetition_index",
                                            "threads",
                                            "iterations",
                                            "real_time",
                                            "cpu_time",
                                            "time_unit",
                                            "items_per_second",
                                            "bytes_per_second",
                                            "aggregate_name",
                                            "aggregate_unit",
                                            "label",
                                            "error_occurred",
                                            "error_message"};
    for (const auto& b : (*in.micro)["benchmarks"]) {
      std::string counters;
      for (auto& [k, v] : b.items())
        if (v.is_number()
            && std::find(standard.begin(), standard.end(), k) == standard.end())
          counters += (counters.empty() ? "" : ", ") + k + " "
                      + short_num(v.get<double>());
      if (b.value("error_occurred", false))
        counters = "**error: " + b.value("error_message", std::string{"?"})
                   + "**";
      auto unit = b.value("time_unit", std::string{"ns"});
      auto t = [&](const char* k) {
        double v = b.value(k, 0.0);
        return fixed(v, v < 10 ? 3 : (v < 1000 ? 1 : 0)) + " " + unit;
      };
      md << "| " << b.value("name", std::string{"?"}) << " | "
         << grouped(b.value("iterations", 0.0)) << " | " << t("real_time")
         << " | " << t("cpu_time") << " | "
         << (b.contains("items_per_second")
               ? grouped(b.value("items_per_second", 0.0))
               : std::string{"-"})
         << " | "
         << (b.contains("bytes_per_second")
               ? grouped(b.value("bytes_per_second", 0.0))
               : std::string{"-"})
         << " | " << counters << " |\n";
    }
    md << "\n";
  } else {
    auto why = skipped(dir, "micro");
    md << not_measured << (why ? ": " + *why : std::string{}) << ".\n\n";
  }
}

/// Stage timings and how to reproduce.
void run_section(std::ostream& md, const report_input& in) {
  const auto& env = in.env;
  const auto& dir = in.dir;
  const auto& total_seconds = in.total_seconds;
  md << "## The run\n\n| stage | seconds |\n|---|---:|\n";
  if (auto t = read_text(dir / "stages.tsv")) {
    std::istringstream lines{*t};
    std::string line;
    while (std::getline(lines, line)) {
      auto a = line.find('\t');
      auto b = line.rfind('\t');
      if (a == std::string::npos || b == a)
        continue;
      md << "| " << line.substr(0, a) << ". " << line.substr(a + 1, b - a - 1)
         << " | " << line.substr(b + 1) << " |\n";
    }
  }
  if (total_seconds)
    md << "| **total** | **" << fixed(*total_seconds, 1) << "** |\n";
  md << "\nReproduce with `scripts/bench.sh` (as root on a fresh Debian 12 "
        "machine: it installs what is missing). `BUILD_DIR`, `DURATION`, "
        "`WARMUP`, `CONCURRENCY_LEVELS`, `LOAD_FRACTIONS`, `INFLIGHT_SIZES`, "
        "`RECOVER_SAGAS`, `FAILOVER_RUNS`, `STAGE_TIMEOUT`, `PROBE_TIMEOUT`, "
        "`MICRO_ARGS` and `REPORT_DIR` change the suite (see the script's "
        "header); this run "
        "used a window of "
     << str(env, {"settings", "duration_s"}) << " s, concurrency levels "
     << str(env, {"settings", "concurrency_levels"}) << ", load fractions "
     << str(env, {"settings", "load_fractions"}) << " %, in-flight sizes "
     << str(env, {"settings", "inflight_sizes"})
     << ". The raw results (JSON, "
        "CSV, logs) are in the build directory's `bench-results/`.\n";
}

int write_report(const fs::path& dir, const fs::path& docs,
                 std::optional<double> total_seconds) {
  report_input in;
  in.dir = dir;
  in.docs = docs;
  in.total_seconds = total_seconds;
  load(in);
  const auto targets = evaluate_targets(in);
  std::ostringstream md;
  header_section(md, in);
  machine_section(md, in);
  targets_section(md, targets);
  references_section(md, in);
  throughput_section(md, in);
  failures_section(md, in);
  latency_section(md, in);
  memory_section(md, in);
  recovery_section(md, in);
  remote_section(md, in);
  http_section(md, in);
  failover_section(md, in);
  restart_fanout_section(md, in);
  micro_section(md, in);
  run_section(md, in);

  std::ofstream out{in.docs / "benchmarks.md"};
  out << md.str();
  if (!out || in.svg_failed) {
    std::fprintf(stderr, "bench_report: cannot write into %s\n",
                 in.docs.string().c_str());
    return 1;
  }
  // The targets on stdout too, for the console.
  std::printf("targets:\n");
  for (const auto& t : targets)
    std::printf("  %-12s %s: %s\n", t.mark.c_str(), t.goal.c_str(),
                t.measured.c_str());
  return 0;
}

int print_best(const fs::path& dir, const std::string& journal) {
  auto runs = numbered(dir, "closed_" + journal + "_c");
  const auto* best = best_of(runs);
  if (!best) {
    std::fprintf(stderr, "bench_report: no closed-loop %s results in %s\n",
                 journal.c_str(), dir.string().c_str());
    return 1;
  }
  std::printf("%.0f %.0f\n", *num(best->second, {"sagas_per_s"}), best->first);
  return 0;
}

constexpr const char* usage
  = "usage: bench_report --results DIR --docs DIR [--total-seconds S]\n"
    "       bench_report --results DIR --best memory|redis";

} // namespace

int main(int argc, char** argv) {
  std::string results, docs, best;
  double total_seconds = 0;
  saga::tools::arg_parser p{"bench_report", usage};
  p.text("--results", results, "the suite's JSON results").value_name("DIR");
  p.text("--docs", docs, "where docs/benchmarks.md and the SVGs go")
    .value_name("DIR");
  p.number("--total-seconds", total_seconds,
           "the suite's wall-clock time, for the report", 0.0)
    .value_name("S")
    .shown_default("none");
  p.choice("--best", best, {"memory", "redis"},
           "print the best closed-loop rate and its concurrency");
  p.parse_or_exit(argc, argv);
  if (results.empty() || (docs.empty() == best.empty()))
    return p.usage_error("give --results and one of --docs or --best");
  if (!best.empty())
    return print_best(results, best);
  std::optional<double> total;
  if (p.given("--total-seconds"))
    total = total_seconds;
  return write_report(results, docs, total);
}
