// sagactl: the operators' command-line tool. Reads sagas, counts and nodes
// straight from the journal's Redis (admin/saga_catalog.hpp) and sends
// retries, aborts and event polls to the nodes' admin HTTP API
// (docs/admin-api.md). `sagactl --help` lists commands and exit codes.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include "admin/http_client.hpp"
#include "admin/saga_catalog.hpp"
#include "persistence/redis_url.hpp"
#include "saga/errc.hpp"
#include "saga/json.hpp"
#include "tools/args.hpp"

namespace saga::admin {
namespace {

using namespace std::chrono_literals;

// -- exit codes ----------------------------------------------------------------

constexpr int exit_ok = 0;
constexpr int exit_refused = 1;
constexpr int exit_usage = 2;
constexpr int exit_unknown = 3;
constexpr int exit_unreachable = 4;
constexpr int exit_unauthorized = 5;

constexpr const char* summary_text
  = R"(usage: sagactl [--redis URL] [--json] [--token T] [--admin HOST:PORT] COMMAND

Operates the sagas of a caf-saga cluster: reads them from the journal's Redis,
sends starts, retries and aborts to a node's admin API (docs/admin-api.md).)";

constexpr const char* commands_text = R"(commands:
  list [--state S] [--definition D] [--node N] [--min-age DUR] [--max-age DUR]
       [--from T] [--to T] [--id-prefix P] [--business-key K]
       [--limit N] [--cursor C] [--all]
                     a page of sagas, newest ended first (by id with
                     --id-prefix, newest started first with --business-key);
                     S is running, compensating, completed, compensated or
                     failed; DUR like 30s, 5m, 2h, 1d; T (the start time) like
                     2026-12-07T10:00:00Z or ms since the Unix epoch; the
                     cursors of the next and previous pages go to stderr;
                     --all follows the cursors to the end
  show ID            one saga's timeline: steps, attempts, operator actions
  tail [--follow-for DUR] [--max N]
                     live lifecycle events of every alive node (or --admin),
                     until N events, DUR, or SIGINT/SIGTERM
  retry ID [--by NAME]
                     resume a failed saga
  abort ID [--by NAME]
                     compensate a running saga now
  start -f FILE [--id ID] [--business-key K] [--wait] [--wait-for DUR]
                     start a saga of the definition in FILE ('-': stdin) on a
                     coordinating node; prints its id (an existing id starts
                     nothing: its state is printed); --wait prints the result
                     if it ends within DUR (default 30s, at most 60s)
  stats              counts per state and per definition
  audit [--max N]    the newest N (default 50) operator actions: who retried
                     or aborted which saga, when, and what came of it
  nodes              the cluster's nodes, leases and participants

exit codes:
  0  ok
  1  the node refused the operation (e.g. invalid_state)
  2  usage error (bad command, flag, duration or URL)
  3  unknown saga id
  4  Redis or a node unreachable
  5  unauthorized (missing or wrong token)
)";

// -- errors ---------------------------------------------------------------------

/// A failed command: what to print and how to exit.
struct failure {
  int code;
  std::string what;
};

int report(const failure& f) {
  std::cerr << "sagactl: " << f.what << '\n';
  return f.code;
}

/// Returns the text of `err` without its "saga::<code>: " prefix.
std::string context_of(const caf::error& err) {
  auto s = describe(err);
  if (s.rfind("saga::", 0) == 0)
    if (auto colon = s.find(": "); colon != std::string::npos)
      return s.substr(colon + 2);
  return s;
}

// -- options ----------------------------------------------------------------------

struct global_options {
  std::string redis_url;
  bool json = false;
  std::string token;
  std::string admin;
};

std::string env_or(const char* name, std::string fallback) {
  auto* x = std::getenv(name);
  return x != nullptr && *x != '\0' ? std::string{x} : std::move(fallback);
}

/// Declares the global options (before the command) in `p`.
void declare_globals(tools::arg_parser& p, global_options& opts) {
  p.text("--redis", opts.redis_url, "the journal's Redis")
    .value_name("URL")
    .needs("a URL")
    .shown_default("$SAGA_REDIS_URL, else redis://127.0.0.1:6379");
  p.flag("--json", opts.json, "print the admin API's JSON instead of tables");
  p.text("--token", opts.token, "admin token for retry/abort")
    .value_name("T")
    .shown_default("$SAGA_ADMIN_TOKEN");
  p.custom("--admin", "HOST:PORT",
           "the node to talk to (retry, abort, tail); default:\n"
           "from the node directory",
           [&opts](const std::string& v) -> std::optional<std::string> {
             if (!parse_address(v))
               return "host:port";
             opts.admin = v;
             return std::nullopt;
           })
    .needs("host:port");
  p.epilog(commands_text);
}

/// Prints the help: the global options, the commands and the exit codes.
void print_help(std::ostream& out) {
  global_options ignored;
  tools::arg_parser p{"sagactl", summary_text};
  declare_globals(p, ignored);
  p.print_help(out);
}

/// Parses the arguments `xs` of command `cmd` with the options declared in
/// `p`; returns the exit status when the command must not run (--help, or
/// a usage error, reported).
std::optional<int> parse_command(tools::arg_parser& p, const std::string& cmd,
                                 const std::vector<std::string>& xs) {
  p.context(cmd);
  auto r = p.parse(xs);
  if (r.result == tools::parse_outcome::kind::help) {
    print_help(std::cout);
    return exit_ok;
  }
  if (!r.ok())
    return p.usage_error(r.error);
  return std::nullopt;
}

// -- formatting -------------------------------------------------------------------

/// Returns `ms` as e.g. "850ms", "12s", "5m12s", "2h3m", "4d2h".
std::string span(int64_t ms) {
  if (ms < 0)
    ms = 0;
  if (ms < 1000)
    return std::to_string(ms) + "ms";
  auto s = ms / 1000;
  if (s < 60)
    return std::to_string(s) + "s";
  if (s < 3600)
    return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  if (s < 86400)
    return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600)
         + "h";
}

/// Returns `ms` since the epoch as UTC "2025-12-01T18:00:00.123Z".
std::string timestamp(int64_t ms) {
  if (ms <= 0)
    return "-";
  auto secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

std::string truncate(std::string s, size_t n) {
  if (s.size() > n)
    s = s.substr(0, n - 3) + "...";
  for (auto& c : s)
    if (c == '\n' || c == '\r' || c == '\t')
      c = ' ';
  return s;
}

std::string str(const json& x, const char* key) {
  auto i = x.find(key);
  if (i == x.end() || i->is_null())
    return {};
  if (i->is_string())
    return i->get<std::string>();
  return i->dump();
}

int64_t num(const json& x, const char* key) {
  auto i = x.find(key);
  return i != x.end() && i->is_number() ? i->get<int64_t>() : 0;
}

/// Prints `rows` (the first one is the header) as aligned columns.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i)
        widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

// -- Redis ------------------------------------------------------------------------

/// Maps a catalog error to its exit code and message.
failure catalog_failure(const caf::error& err, const redis_endpoint& ep) {
  auto text = context_of(err);
  if (is(err, errc::unknown_saga))
    return {exit_unknown, text};
  if (is(err, errc::invalid_request))
    return {exit_usage, text};
  auto where = ep.socket_path.empty() ? ep.host + ":" + std::to_string(ep.port)
                                      : ep.socket_path;
  if (auto i = text.find("cannot connect: "); i != std::string::npos)
    return {exit_unreachable,
            "cannot reach Redis at " + where + ": " + text.substr(i + 16)};
  return {exit_unreachable, "Redis at " + where + ": " + text};
}

struct context {
  global_options opts;
  redis_endpoint ep;
  saga_catalog catalog;

  context(global_options o, redis_endpoint e)
    : opts(std::move(o)), ep(e), catalog(std::move(e), 3s) {
    // nop
  }
};

// -- list -------------------------------------------------------------------------

void print_sagas(const json& sagas) {
  std::vector<std::vector<std::string>> rows{
    {"ID", "DEFINITION", "STATE", "OWNER", "AGE", "STEPS", "ERROR"}};
  auto now = tools::now_ms();
  for (const auto& x : sagas) {
    auto owner = str(x, "owner");
    if (num(x, "epoch") > 0)
      owner += "/" + std::to_string(num(x, "epoch"));
    auto started = num(x, "started_ms");
    auto error = str(x, "error");
    if (auto f = str(x, "failed_step"); !f.empty() && !error.empty())
      error.insert(0, f + ": ");
    rows.push_back({str(x, "id"), str(x, "definition"), str(x, "state"), owner,
                    started > 0 ? span(now - started) : "-",
                    std::to_string(num(x, "steps_done")) + "/"
                      + std::to_string(num(x, "steps")),
                    truncate(error, 60)});
  }
  print_table(rows);
}

/// Returns `text` (RFC 3339 in UTC, `YYYY-MM-DDTHH:MM[:SS[.mmm]]Z`, or ms
/// since the Unix epoch) as ms since the Unix epoch, or nothing: every
/// field is digits of its exact width, and the date must exist.
std::optional<int64_t> parse_time_ms(const std::string& text) {
  auto digits = [&text](size_t at, size_t n) -> std::optional<int> {
    if (at + n > text.size())
      return std::nullopt;
    int x = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9')
        return std::nullopt;
      x = x * 10 + (text[i] - '0');
    }
    return x;
  };
  if (!text.empty() && text.size() <= 15
      && text.find_first_not_of("0123456789") == std::string::npos)
    return std::stoll(text);
  // YYYY-MM-DDTHH:MM, then [:SS[.mmm]], then Z.
  auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2),
       mi = digits(14, 2);
  if (!y || !mo || !d || !h || !mi || text.size() < 17 || text[4] != '-'
      || text[7] != '-' || text[10] != 'T' || text[13] != ':')
    return std::nullopt;
  size_t at = 16;
  std::optional<int> sec = 0;
  std::optional<int> ms = 0;
  if (text[at] == ':') {
    sec = digits(at + 1, 2);
    at += 3;
    if (at < text.size() && text[at] == '.') {
      ms = digits(at + 1, 3);
      at += 4;
    }
  }
  if (!sec || !ms || at + 1 != text.size() || text[at] != 'Z' || *y < 1970)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *sec;
  auto secs = timegm(&tm);
  // timegm normalizes (Feb 31 becomes Mar 3): the date must come back.
  std::tm back{};
  if (secs < 0 || gmtime_r(&secs, &back) == nullptr || back.tm_mon != *mo - 1
      || back.tm_mday != *d || back.tm_hour != *h || back.tm_min != *mi
      || back.tm_sec != *sec)
    return std::nullopt;
  return static_cast<int64_t>(secs) * 1000 + *ms;
}

int cmd_list(context& ctx, const std::vector<std::string>& xs) {
  saga_filter filter;
  bool all = false;
  std::chrono::milliseconds min_age{0};
  std::chrono::milliseconds max_age{0};
  uint32_t limit = 0;
  tools::arg_parser p{"sagactl", ""};
  p.custom("--state", "S",
           "running, compensating, completed, compensated or failed",
           [&filter](const std::string& v) -> std::optional<std::string> {
             filter.state = parse_saga_status(v);
             if (!filter.state || *filter.state == saga_status::pending)
               return "one of running, compensating, completed, "
                      "compensated, failed";
             return std::nullopt;
           });
  p.text("--definition", filter.definition, "sagas of this definition");
  p.text("--node", filter.node, "sagas owned by this node");
  p.text("--id-prefix", filter.id_prefix, "sagas whose id starts with this");
  p.text("--business-key", filter.business_key,
         "sagas started with this business key");
  for (auto [name, field, what] :
       {std::tuple{"--from", &filter.from_ms, "at or after"},
        std::tuple{"--to", &filter.to_ms, "at or before"}})
    p.custom(name, "T", std::string{"sagas started "} + what + " T",
             [field = field](
               const std::string& v) -> std::optional<std::string> {
               *field = parse_time_ms(v);
               if (!*field)
                 return "a time like 2026-12-07T10:00:00Z (UTC) or ms "
                        "since the Unix epoch";
               return std::nullopt;
             });
  p.duration("--min-age", min_age, "sagas started at least DUR ago");
  p.duration("--max-age", max_age, "sagas started at most DUR ago");
  p.integer("--limit", limit, "sagas per page", uint32_t{1}, uint32_t{500});
  p.text("--cursor", filter.cursor, "the page of this cursor (next or prev)");
  p.flag("--all", all, "follow the cursors to the end");
  if (auto status = parse_command(p, "list", xs))
    return *status;
  if (p.given("--min-age"))
    filter.min_age_s = min_age.count() / 1000;
  if (p.given("--max-age"))
    filter.max_age_s = max_age.count() / 1000;
  if (p.given("--limit"))
    filter.limit = limit;
  if (auto err = filter.validate())
    return report({exit_usage, context_of(err)});
  auto sagas = json::array();
  uint64_t scanned = 0;
  std::string next;
  std::string prev;
  for (bool first = true;; first = false) {
    auto page = ctx.catalog.list(filter);
    if (!page)
      return report(catalog_failure(page.error(), ctx.ep));
    for (auto& x : (*page)["sagas"])
      sagas.push_back(std::move(x));
    scanned += (*page)["scanned"].get<uint64_t>();
    next = (*page)["next"].get<std::string>();
    if (first)
      prev = (*page)["prev"].get<std::string>();
    if (!all || next.empty())
      break;
    filter.cursor = next;
  }
  if (ctx.opts.json)
    std::cout << json{{"sagas", sagas},
                      {"next", next},
                      {"prev", prev},
                      {"scanned", scanned}}
                   .dump()
              << '\n';
  else
    print_sagas(sagas);
  // A page may come back short (even empty) while more follow: the scan
  // budget ran out before the filters found enough.
  if (!next.empty())
    std::cerr << "sagactl: " << (sagas.empty() ? "none yet; searched " : "")
              << (sagas.empty() ? std::to_string(scanned) + " sagas; " : "")
              << "more sagas may follow: --cursor " << next << '\n';
  if (!prev.empty())
    std::cerr << "sagactl: the previous page: --cursor " << prev << '\n';
  return exit_ok;
}

// -- show -------------------------------------------------------------------------

std::string offset(int64_t t, int64_t t0) {
  if (t <= 0)
    return "";
  return "+" + std::to_string(t - t0) + "ms";
}

void print_timeline(const json& x) {
  auto t0 = num(x, "started_ms");
  std::cout << "saga " << str(x, "id") << " (" << str(x, "definition")
            << "): " << str(x, "state") << '\n';
  auto owner = str(x, "owner");
  std::cout << "  owner:   " << (owner.empty() ? "-" : owner);
  if (num(x, "epoch") > 0)
    std::cout << " (epoch " << num(x, "epoch") << ")";
  std::cout << '\n';
  std::cout << "  started: " << timestamp(t0) << '\n';
  if (auto end = num(x, "ended_ms"); end > 0)
    std::cout << "  ended:   " << timestamp(end) << " (after " << span(end - t0)
              << ")\n";
  if (auto f = str(x, "failed_step"); !f.empty())
    std::cout << "  failed step: " << f << '\n';
  if (auto e = str(x, "error"); !e.empty()) {
    std::cout << "  error:   " << e;
    if (auto code = str(x, "error_code"); !code.empty())
      std::cout << " [" << code << "]";
    std::cout << '\n';
  }
  if (x.value("invalid_history", false))
    std::cout << "  the history does not replay: showing what it holds\n";
  std::cout << "steps:\n";
  for (const auto& s : x["steps"]) {
    std::cout << "  " << num(s, "index") + 1 << ". " << str(s, "name") << " @"
              << str(s, "participant");
    if (str(s, "action") != str(s, "name"))
      std::cout << "/" << str(s, "action");
    if (s.value("pivot", false))
      std::cout << " [pivot]";
    std::cout << "  " << str(s, "status");
    for (const auto& op : s["operations"]) {
      std::cout << "  " << str(op, "op") << "#" << num(op, "attempt") << " "
                << offset(num(op, "started_ms"), t0) << ".."
                << offset(num(op, "ended_ms"), t0) << " " << str(op, "outcome");
      if (auto e = str(op, "error"); !e.empty())
        std::cout << " (" << truncate(e, 80) << ")";
    }
    if (s.value("outcome_unknown", false))
      std::cout << "  outcome unknown";
    std::cout << '\n';
  }
  const auto& actions = x["operator_actions"];
  if (!actions.empty()) {
    std::cout << "operator actions:\n";
    for (const auto& a : actions)
      std::cout << "  " << str(a, "action") << " by " << str(a, "by") << " at "
                << timestamp(num(a, "time_ms")) << " ("
                << offset(num(a, "time_ms"), t0) << ")\n";
  }
  std::cout << "events: " << x["events"].size() << '\n';
}

int cmd_show(context& ctx, const std::vector<std::string>& xs) {
  tools::arg_parser p{"sagactl", ""};
  p.allow_positional();
  p.context("show");
  auto r = p.parse(xs);
  if (r.result == tools::parse_outcome::kind::help) {
    print_help(std::cout);
    return exit_ok;
  }
  if (r.ok() && r.positional.size() > 1)
    return p.usage_error("show: unknown option '" + r.positional[1] + "'");
  if (!r.ok())
    return p.usage_error(r.error);
  if (r.positional.empty())
    return report({exit_usage, "show: which saga? (sagactl show ID)"});
  auto id = r.positional.front();
  if (!valid_saga_id(id))
    return report({exit_usage, "'" + id + "' is not a saga id"});
  auto x = ctx.catalog.show(id);
  if (!x)
    return report(catalog_failure(x.error(), ctx.ep));
  if (ctx.opts.json)
    std::cout << x->dump() << '\n';
  else
    print_timeline(*x);
  return exit_ok;
}

// -- stats and nodes --------------------------------------------------------------

/// Prints the newest operator actions of the audit stream (`sagactl audit`).
int cmd_audit(context& ctx, const std::vector<std::string>& xs) {
  uint32_t max = 50;
  tools::arg_parser p{"sagactl", ""};
  p.integer("--max", max, "entries to print", uint32_t{1}, uint32_t{500});
  if (auto status = parse_command(p, "audit", xs))
    return *status;
  auto x = ctx.catalog.audit(max);
  if (!x)
    return report(catalog_failure(x.error(), ctx.ep));
  if (ctx.opts.json) {
    std::cout << x->dump() << '\n';
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows{
    {"TIME", "NODE", "ACTION", "SAGA", "BY", "OUTCOME", "ERROR"}};
  for (const auto& e : (*x)["entries"])
    rows.push_back({timestamp(num(e, "time_ms")), str(e, "node"),
                    str(e, "action"), str(e, "saga_id"), str(e, "by"),
                    str(e, "outcome"), truncate(str(e, "error"), 60)});
  print_table(rows);
  return exit_ok;
}

int cmd_stats(context& ctx, const std::vector<std::string>& xs) {
  tools::arg_parser p{"sagactl", ""};
  if (auto status = parse_command(p, "stats", xs))
    return *status;
  auto x = ctx.catalog.stats();
  if (!x)
    return report(catalog_failure(x.error(), ctx.ep));
  if (ctx.opts.json) {
    std::cout << x->dump() << '\n';
    return exit_ok;
  }
  std::vector<std::vector<std::string>> states{{"STATE", "SAGAS"}};
  for (auto name : {"unfinished", "failed", "compensated", "completed"})
    states.push_back({name, std::to_string(num((*x)["states"], name))});
  print_table(states);
  std::cout << '\n';
  std::vector<std::vector<std::string>> defs{
    {"DEFINITION", "STARTED", "COMPLETED", "COMPENSATED", "FAILED"}};
  for (const auto& [name, d] : (*x)["definitions"].items())
    defs.push_back({name, std::to_string(num(d, "started")),
                    std::to_string(num(d, "completed")),
                    std::to_string(num(d, "compensated")),
                    std::to_string(num(d, "failed"))});
  print_table(defs);
  return exit_ok;
}

int cmd_nodes(context& ctx, const std::vector<std::string>& xs) {
  tools::arg_parser p{"sagactl", ""};
  if (auto status = parse_command(p, "nodes", xs))
    return *status;
  auto x = ctx.catalog.nodes();
  if (!x)
    return report(catalog_failure(x.error(), ctx.ep));
  if (ctx.opts.json) {
    std::cout << x->dump() << '\n';
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows{{"ID", "EPOCH", "ALIVE", "LEASE",
                                              "COORD", "ADMIN", "GATEWAY",
                                              "UNFINISHED", "PARTICIPANTS"}};
  for (const auto& n : (*x)["nodes"]) {
    auto alive = n.value("alive", false);
    std::string participants;
    for (const auto& p : n["participants"])
      participants += (participants.empty() ? "" : ",") + p.get<std::string>();
    auto admin = str(n, "admin");
    rows.push_back({str(n, "id"), std::to_string(num(n, "epoch")),
                    alive ? "yes" : "no",
                    alive ? span(num(n, "lease_ms_left")) : "-",
                    n.value("coordinates", false) ? "yes" : "no",
                    admin.empty() ? "-" : admin,
                    str(n, "host") + ":" + std::to_string(num(n, "port")),
                    std::to_string(num(n, "unfinished")),
                    participants.empty() ? "-" : participants});
  }
  print_table(rows);
  return exit_ok;
}

// -- the admin API ----------------------------------------------------------------

/// A node's admin server.
struct admin_target {
  std::string node; // empty when given by --admin
  std::string address;
};

/// Returns the alive nodes with an admin address (coordinating ones only
/// if `coordinating`), the owner `prefer` first.
caf::expected<std::vector<admin_target>>
admin_targets(context& ctx, bool coordinating, const std::string& prefer = {}) {
  auto x = ctx.catalog.nodes();
  if (!x)
    return x.error();
  std::vector<admin_target> result;
  for (const auto& n : (*x)["nodes"]) {
    if (!n.value("alive", false) || str(n, "admin").empty())
      continue;
    if (coordinating && !n.value("coordinates", false))
      continue;
    admin_target t{str(n, "id"), str(n, "admin")};
    if (!prefer.empty() && t.node == prefer)
      result.insert(result.begin(), std::move(t));
    else
      result.push_back(std::move(t));
  }
  return result;
}

/// Returns the exit code and message for an HTTP error answer.
failure http_failure(const admin_target& t, const http_response& r) {
  auto body = json::parse(r.body, nullptr, false);
  std::string text = body.is_object() ? str(body, "error") : r.body;
  std::string code = body.is_object() ? str(body, "code") : "";
  if (text.empty())
    text = "HTTP " + std::to_string(r.status);
  auto what = (t.node.empty() ? t.address : t.node + " (" + t.address + ")")
              + ": " + text + " (HTTP " + std::to_string(r.status) + ")";
  if (r.status == 401)
    return {exit_unauthorized, what};
  if (r.status == 404 && code == "unknown_saga")
    return {exit_unknown, what};
  if (r.status >= 500)
    return {exit_unreachable, what};
  return {exit_refused, what};
}

bool valid_operator(const std::string& by) {
  if (by.empty() || by.size() > 64)
    return false;
  return std::all_of(by.begin(), by.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '@' || c == '-';
  });
}

/// Sends `req` to the first of `targets` that can be reached; returns the
/// JSON object it answered with a 2xx, or the failure to report.
std::variant<json, failure>
post_to_admin(context& ctx, const std::vector<admin_target>& targets,
              http_request req) {
  if (!ctx.opts.token.empty())
    req.headers.emplace_back("Authorization", "Bearer " + ctx.opts.token);
  std::optional<failure> last;
  for (const auto& t : targets) {
    auto addr = parse_address(t.address);
    if (!addr) {
      last = failure{ctx.opts.admin.empty() ? exit_unreachable : exit_usage,
                     "--admin: " + context_of(addr.error())};
      continue;
    }
    req.host = addr->first;
    req.port = addr->second;
    auto r = send(req);
    if (!r) {
      last = failure{exit_unreachable, context_of(r.error())};
      continue;
    }
    if (r->status < 200 || r->status > 299) {
      auto f = http_failure(t, *r);
      if (f.code == exit_unauthorized && ctx.opts.token.empty())
        f.what += "; give --token or set SAGA_ADMIN_TOKEN";
      return f;
    }
    auto body = json::parse(r->body, nullptr, false);
    if (!body.is_object())
      return failure{exit_unreachable, t.address + ": the answer is not JSON: "
                                         + truncate(r->body, 80)};
    return body;
  }
  return *last;
}

/// Returns the alive coordinating nodes' admin servers (the owner `prefer`
/// first), or --admin.
std::variant<std::vector<admin_target>, failure>
coordinators(context& ctx, const std::string& what,
             const std::string& prefer = {}) {
  if (!ctx.opts.admin.empty())
    return std::vector<admin_target>{{{}, ctx.opts.admin}};
  auto ts = admin_targets(ctx, true, prefer);
  if (!ts)
    return catalog_failure(ts.error(), ctx.ep);
  if (ts->empty())
    return failure{exit_unreachable,
                   "no alive coordinating node with an admin address to send "
                   "the "
                     + what + " to (see sagactl nodes)"};
  return std::move(*ts);
}

int cmd_operate(context& ctx, const std::vector<std::string>& xs,
                const std::string& action) {
  if (xs.empty() || xs.front().rfind("--", 0) == 0)
    return report({exit_usage, action + ": which saga? (sagactl " + action
                                 + " ID [--by NAME])"});
  const auto& id = xs.front();
  auto by = env_or("USER", "sagactl");
  if (!valid_operator(by))
    by = "sagactl";
  tools::arg_parser p{"sagactl", ""};
  p.text("--by", by, "who asks, in the saga's operator actions")
    .check([&by] { return valid_operator(by); },
           "1 to 64 characters of [A-Za-z0-9._@-]");
  if (auto status = parse_command(p, action, {xs.begin() + 1, xs.end()}))
    return *status;
  if (!valid_saga_id(id))
    return report({exit_usage, "'" + id + "' is not a saga id"});
  // An abort goes to the owner while it lives; a retry (or an abort of a
  // dead owner's saga) to any coordinating node, which takes it over.
  // An unknown saga is reported from the catalog, before any node is asked.
  std::string prefer;
  if (ctx.opts.admin.empty()) {
    auto owner = ctx.catalog.owner(id);
    if (!owner)
      return report(catalog_failure(owner.error(), ctx.ep));
    if (action == "abort")
      prefer = owner->first;
  }
  auto targets = coordinators(ctx, action, prefer);
  if (auto* f = std::get_if<failure>(&targets))
    return report(*f);
  http_request req;
  req.method = "POST";
  req.target = "/api/sagas/" + id + "/" + action;
  req.body = json{{"by", by}}.dump();
  auto answer = post_to_admin(ctx, std::get<std::vector<admin_target>>(targets),
                              std::move(req));
  if (auto* f = std::get_if<failure>(&answer))
    return report(*f);
  const auto& body = std::get<json>(answer);
  if (ctx.opts.json)
    std::cout << body.dump() << '\n';
  else
    std::cout << id << ": " << action << " by " << str(body, "by")
              << " accepted; state " << str(body, "state") << '\n';
  return exit_ok;
}

// -- start ------------------------------------------------------------------------

/// Returns the definition JSON in `file` ("-": stdin).
std::variant<json, failure> read_definition(const std::string& file) {
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in{file};
    if (!in)
      return failure{exit_usage, "start: cannot read '" + file + "'"};
    text << in.rdbuf();
  }
  auto doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return failure{exit_usage,
                   "start: '" + file + "' is not a JSON object (a definition)"};
  return doc;
}

int cmd_start(context& ctx, std::vector<std::string> xs) {
  for (auto& x : xs)
    if (x == "-f")
      x = "--file";
  std::string file;
  std::string id;
  std::string key;
  bool wait = false;
  std::chrono::milliseconds wait_for{30'000};
  tools::arg_parser p{"sagactl", ""};
  p.text("--file", file, "the definition as JSON ('-': stdin); also -f");
  p.text("--id", id, "the saga's id (default: the node makes one)")
    .check([&id] { return valid_saga_id(id); },
           "1 to 200 characters of [A-Za-z0-9._:-]");
  p.text("--business-key", key, "the saga's business key");
  p.flag("--wait", wait, "wait for the saga's result (see --wait-for)");
  p.duration("--wait-for", wait_for, "how long --wait waits, at most 60s");
  if (auto status = parse_command(p, "start", xs))
    return *status;
  if (file.empty())
    return report({exit_usage, "start: which definition? (sagactl start -f "
                               "definition.json [--id ID] [--wait])"});
  if (wait_for > std::chrono::seconds{60})
    return report({exit_usage, "start: --wait-for is at most 60s"});
  auto def = read_definition(file);
  if (auto* f = std::get_if<failure>(&def))
    return report(*f);
  json body{{"definition", std::get<json>(def)}};
  if (!id.empty())
    body["id"] = id;
  if (!key.empty())
    body["business_key"] = key;
  if (wait)
    body["wait"] = std::to_string(wait_for.count()) + "ms";
  auto targets = coordinators(ctx, "start");
  if (auto* f = std::get_if<failure>(&targets))
    return report(*f);
  http_request req;
  req.method = "POST";
  req.target = "/api/sagas";
  req.body = body.dump();
  req.timeout = wait_for + std::chrono::seconds{10};
  auto answer = post_to_admin(ctx, std::get<std::vector<admin_target>>(targets),
                              std::move(req));
  if (auto* f = std::get_if<failure>(&answer))
    return report(*f);
  const auto& out = std::get<json>(answer);
  if (ctx.opts.json) {
    std::cout << out.dump() << '\n';
  } else {
    std::cout << str(out, "id") << ": "
              << (out.value("created", false) ? "started" : "exists");
    if (auto st = str(out, "state"); !st.empty())
      std::cout << "; state " << st;
    if (auto err = str(out, "error"); !err.empty())
      std::cout << " (" << truncate(err, 200) << ")";
    if (wait && !out.value("ended", false))
      std::cout << "; not ended within " << wait_for.count() << " ms";
    std::cout << '\n';
  }
  return exit_ok;
}

// -- tail -------------------------------------------------------------------------

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) {
  stop_requested = true;
}

void print_event(const std::string& node, const json& ev) {
  std::cout << timestamp(num(ev, "time_ms")) << "  " << node << "  "
            << str(ev, "saga_id") << "  " << str(ev, "definition") << "  "
            << str(ev, "type");
  if (auto step = str(ev, "step"); !step.empty()) {
    std::cout << "  " << step;
    if (num(ev, "attempt") > 0)
      std::cout << "#" << num(ev, "attempt");
  }
  if (auto e = str(ev, "error"); !e.empty())
    std::cout << "  (" << truncate(e, 100) << ")";
  std::cout << '\n';
}

int cmd_tail(context& ctx, const std::vector<std::string>& xs) {
  std::optional<int64_t> follow_ms;
  std::optional<uint64_t> max_events;
  std::chrono::milliseconds follow{0};
  uint64_t max = 0;
  tools::arg_parser p{"sagactl", ""};
  p.duration("--follow-for", follow, "stop after DUR");
  p.integer("--max", max, "stop after N events", uint64_t{1},
            uint64_t{1'000'000'000});
  if (auto status = parse_command(p, "tail", xs))
    return *status;
  if (p.given("--follow-for"))
    follow_ms = follow.count();
  if (p.given("--max"))
    max_events = max;
  std::vector<admin_target> targets;
  if (!ctx.opts.admin.empty()) {
    if (auto a = parse_address(ctx.opts.admin); !a)
      return report({exit_usage, "--admin: " + context_of(a.error())});
    targets.push_back({{}, ctx.opts.admin});
  } else {
    auto ts = admin_targets(ctx, false);
    if (!ts)
      return report(catalog_failure(ts.error(), ctx.ep));
    targets = std::move(*ts);
    if (targets.empty())
      return report({exit_unreachable,
                     "no alive node with an admin address (see sagactl "
                     "nodes)"});
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto deadline = follow_ms ? std::chrono::steady_clock::now()
                                + std::chrono::milliseconds{*follow_ms}
                            : std::chrono::steady_clock::time_point::max();
  // Per node: the cursor (none yet: start at its newest events) and the
  // node's epoch it belongs to (a restarted node resets it).
  std::vector<std::optional<std::pair<uint64_t, uint64_t>>> after(
    targets.size());
  std::vector<bool> warned(targets.size(), false);
  bool answered = false;
  uint64_t printed = 0;
  auto finished = [&] {
    return stop_requested || (max_events && printed >= *max_events)
           || std::chrono::steady_clock::now() >= deadline;
  };
  while (!finished()) {
    bool got_any = false;
    for (size_t i = 0; i < targets.size() && !finished(); ++i) {
      auto addr = parse_address(targets[i].address);
      if (!addr)
        continue;
      http_request req;
      req.host = addr->first;
      req.port = addr->second;
      req.timeout = 2s;
      req.target = "/api/events?";
      if (after[i])
        req.target += "after=" + std::to_string(after[i]->first)
                      + "&epoch=" + std::to_string(after[i]->second) + "&";
      req.target += "max=100";
      auto r = send(req);
      if (!r || r->status != 200) {
        if (!warned[i]) {
          warned[i] = true;
          std::cerr << "sagactl: "
                    << (r ? http_failure(targets[i], *r).what
                          : context_of(r.error()))
                    << '\n';
        }
        continue;
      }
      answered = true;
      warned[i] = false;
      auto body = json::parse(r->body, nullptr, false);
      if (!body.is_object() || !body.contains("events"))
        continue;
      auto node = targets[i].node.empty() ? targets[i].address
                                          : targets[i].node;
      for (const auto& ev : body["events"]) {
        if (max_events && printed >= *max_events)
          break;
        if (ctx.opts.json) {
          auto x = ev;
          x["node"] = node;
          std::cout << x.dump() << '\n';
        } else {
          print_event(node, ev);
        }
        ++printed;
        got_any = true;
      }
      std::cout.flush();
      auto n = body.find("next");
      auto e = body.find("epoch");
      if (n != body.end() && n->is_number_unsigned() && e != body.end()
          && e->is_number_unsigned())
        after[i] = std::make_pair(n->get<uint64_t>(), e->get<uint64_t>());
    }
    if (!got_any && !finished()) {
      // Polls: the API has no push. Short naps keep signals responsive.
      for (int k = 0; k < 5 && !finished(); ++k)
        std::this_thread::sleep_for(50ms);
    }
  }
  if (!answered && !stop_requested)
    return report({exit_unreachable, "no node answered GET /api/events"});
  return exit_ok;
}

// -- main -------------------------------------------------------------------------

int run(int argc, char** argv) {
  global_options opts;
  opts.redis_url = env_or("SAGA_REDIS_URL", "redis://127.0.0.1:6379");
  opts.token = env_or("SAGA_ADMIN_TOKEN", "");
  tools::arg_parser p{"sagactl", summary_text};
  declare_globals(p, opts);
  p.allow_positional(true); // the command and its arguments
  auto r = p.parse(argc, argv);
  if (r.result == tools::parse_outcome::kind::help
      || (r.ok() && !r.positional.empty() && r.positional.front() == "help")) {
    p.print_help(std::cout);
    return exit_ok;
  }
  if (!r.ok())
    return p.usage_error(r.error);
  if (r.positional.empty()) {
    p.print_help(std::cerr);
    return exit_usage;
  }
  std::string cmd = r.positional.front();
  // Global flags may also follow the command's own ones.
  std::vector<std::string> rest;
  for (size_t i = 1; i < r.positional.size(); ++i) {
    if (r.positional[i] == "--json")
      opts.json = true;
    else
      rest.push_back(std::move(r.positional[i]));
  }
  static const char* commands[] = {"list",  "show",  "tail",  "retry", "abort",
                                   "start", "stats", "nodes", "audit"};
  if (std::find_if(std::begin(commands), std::end(commands),
                   [&](const char* c) { return cmd == c; })
      == std::end(commands))
    return report(
      {exit_usage, "unknown command '" + cmd + "' (see sagactl --help)"});
  auto ep = parse_redis_url(opts.redis_url);
  if (!ep)
    return report({exit_usage, "--redis: " + context_of(ep.error())});
  context ctx{std::move(opts), std::move(*ep)};
  const auto& xs = rest;
  if (cmd == "list")
    return cmd_list(ctx, xs);
  if (cmd == "show")
    return cmd_show(ctx, xs);
  if (cmd == "tail")
    return cmd_tail(ctx, xs);
  if (cmd == "retry" || cmd == "abort")
    return cmd_operate(ctx, xs, cmd);
  if (cmd == "start")
    return cmd_start(ctx, xs);
  if (cmd == "stats")
    return cmd_stats(ctx, xs);
  if (cmd == "audit")
    return cmd_audit(ctx, xs);
  return cmd_nodes(ctx, xs);
}

} // namespace
} // namespace saga::admin

int main(int argc, char** argv) {
  return saga::admin::run(argc, argv);
}
