// The caf-saga demo: purchases and cross-server trades between many players
// on a real cluster (account-server, inventory-server, log-server and an
// orchestrator, each its own saga_node process) while things break: steps
// fail, steps hang past their timeouts, the inventory server is killed and
// restarted, and the orchestrator is killed with SIGKILL mid-run and
// restarted, its sagas finished by its next incarnation. At the end, money
// and items must add up exactly to what the completed sagas imply.
//
//   purchase_demo [--journal redis|memory] [--redis URL] [--players N]
//                 [--sagas N] [--concurrency N] [--trade-share F]
//                 [--fail-rate F] [--slow-rate F] [--kill-server yes|no]
//                 [--kill-orchestrator yes|no] [--http] [--logs DIR]
//
// --journal memory runs everything in this process on the memory journal
// (no Redis); node and orchestrator crashes become actor crashes there.
// --http makes the log server an HTTP participant: demo/log_service.py,
// run by python3 as a child of this process with the same faults, declared
// on the orchestrator; the check then reads the purchases from it.
// Exit status: 0 when every saga ended and the conservation check passed.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <hiredis/hiredis.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <saga/http_participant.hpp>
#include <saga/json.hpp>
#include <saga/saga.hpp>

#include "core/crash_atom.hpp"
#include "demo/game_servers.hpp"
#include "demo/trade.hpp"
#include "persistence/memory_journal.hpp"
#include "persistence/redis_connection.hpp"
#include "persistence/redis_url.hpp"
#include "tests/support/child_process.hpp"
#include "tools/args.hpp"

using namespace std::chrono_literals;

namespace {

// -- options --------------------------------------------------------------------

struct options {
  bool memory = false;
  std::string redis;
  size_t players = 40;
  size_t sagas = 400;
  size_t concurrency = 40;
  double trade_share = 0.3;
  demo::fault_options faults{0.05, 0.02, 1'500ms};
  bool kill_server = true;
  bool kill_orchestrator = true;
  bool http = false;
  std::string logs = ".";
};

/// Returns the options of `argv`; prints the help and exits 0 on --help,
/// exits 2 with a message naming the option on a bad one.
options parse(int argc, char** argv) {
  options o;
  std::string journal = "redis";
  saga::tools::arg_parser
    p{"purchase_demo",
      "purchase_demo: purchases and trades across servers while things break."};
  p.choice("--journal", journal, {"redis", "memory"},
           "redis: four saga_node processes on one Redis;\n"
           "memory: one process, memory journal");
  p.text("--redis", o.redis, "Redis to use")
    .value_name("URL")
    .shown_default("$SAGA_REDIS_URL");
  p.integer("--players", o.players, "players, each with 1000 coins and 3 items",
            size_t{2});
  p.integer("--sagas", o.sagas, "sagas to run", size_t{1});
  p.integer("--concurrency", o.concurrency, "sagas in flight at once",
            size_t{1});
  p.number("--trade-share", o.trade_share, "share of trades among the sagas",
           0.0, 1.0);
  p.number("--fail-rate", o.faults.fail_rate,
           "probability that a step's execute fails", 0.0, 1.0);
  p.number("--slow-rate", o.faults.slow_rate,
           "probability that it answers after 1.5 s, past its\n1 s timeout",
           0.0, 1.0);
  p.yes_no("--kill-server", o.kill_server,
           "kill the inventory server at 30% and restart it");
  p.yes_no("--kill-orchestrator", o.kill_orchestrator,
           "SIGKILL the orchestrator at 60% and restart it");
  // A flag, not yes|no: `scripts/demo.sh --http` is how it is asked for.
  p.flag("--http", o.http,
         "the log server is an HTTP service,\n"
         "demo/log_service.py run by python3");
  p.text("--logs", o.logs, "where the nodes' logs go").value_name("DIR");
  p.parse_or_exit(argc, argv);
  o.memory = journal == "memory";
  return o;
}

using hash = std::map<std::string, std::string>;

// -- the log server as an HTTP service (--http) ---------------------------------

/// demo/log_service.py, the purchase log as an HTTP participant, run by
/// python3 as a child of this process with the demo's faults. Owns the
/// process: the destructor stops it (SIGTERM; SIGKILL if it lingers).
class log_service {
public:
  /// Starts the service and waits for its port; throws if it does not
  /// start. Create it on the main thread: the child dies with its creator.
  explicit log_service(const options& o)
    : log_path_(o.logs + "/demo-log-service.log"),
      proc_("python3",
            {SAGA_LOG_SERVICE_PY, "--port", "0", "--fail-rate",
             std::to_string(o.faults.fail_rate), "--slow-rate",
             std::to_string(o.faults.slow_rate)},
            log_path_) {
    auto line = proc_.wait_for_line("ready port=", 30s);
    if (!line)
      throw std::runtime_error("the log service did not start; see "
                               + log_path_);
    port_ = static_cast<uint16_t>(
      std::stoul(line->substr(line->find("port=") + 5)));
  }

  ~log_service() {
    proc_.signal(SIGTERM);
    proc_.wait_exit(5s);
  }

  log_service(const log_service&) = delete;
  log_service& operator=(const log_service&) = delete;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

  /// Returns the realm's logged purchases, saga id -> price, as the
  /// service has them; throws if it cannot tell.
  hash purchases(const std::string& realm) const {
    // The realm is "r<digits>": nothing to percent-encode.
    auto body = saga::json::parse(get("/purchases?realm=" + realm));
    hash result;
    for (const auto& [id, price] : body.items())
      result[id] = std::to_string(price.get<int64_t>());
    return result;
  }

private:
  /// Returns the body of a 200 answer to GET `target`; throws otherwise.
  std::string get(const std::string& target) const {
    namespace http = boost::beast::http;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket{io};
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    req.set(http::field::connection, "close");
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    if (res.result() != http::status::ok)
      throw std::runtime_error("GET " + target + " answered "
                               + std::to_string(res.result_int()));
    return res.body();
  }

  std::string log_path_;
  saga::test::child_process proc_;
  uint16_t port_ = 0;
};

// -- backends: where the sagas run ---------------------------------------------------

using callback = std::function<void(saga::saga_result)>;

/// A cluster to run sagas on, with the demo's faults.
class backend {
public:
  virtual ~backend() = default;
  /// Starts a saga; `done` gets its result, or an error when the
  /// orchestrator died before answering.
  virtual void start(const saga::definition& d, callback done) = 0;
  /// Kills the inventory server and starts it again.
  virtual void kill_server() = 0;
  /// Kills the orchestrator, starts it again (it recovers its sagas) and
  /// returns the ids of the sagas it had left unfinished.
  virtual std::vector<saga::saga_id> kill_orchestrator() = 0;
  /// Returns how many sagas the orchestrator has unfinished.
  virtual size_t unfinished() = 0;
  virtual hash read_hash(const std::string& key) = 0;
  virtual void write_hash(const std::string& key, const hash& values) = 0;
  virtual std::optional<saga::saga_log> log(const saga::saga_id& id) = 0;

  /// Returns the realm's logged purchases, saga id -> price, from the log
  /// server's own data; throws if it cannot tell.
  hash purchases(const std::string& realm) {
    return http_log_ ? http_log_->purchases(realm)
                     : read_hash(demo::purchases_key(realm));
  }

protected:
  /// Starts the log service first with --http: the servers need its URL,
  /// and it outlives them (members go after the subclass's destructor).
  explicit backend(const options& o) {
    if (o.http)
      http_log_ = std::make_unique<log_service>(o);
  }

  std::unique_ptr<log_service> http_log_; // with --http only
};

/// Four saga_node processes on one Redis; this process is a client.
class cluster_backend : public backend {
public:
  cluster_backend(const options& o) : backend(o), opts_(o) {
    cfg_.load<caf::io::middleman>();
    saga::add_message_types(cfg_);
    cfg_.set("middleman.heartbeat-interval", caf::timespan{200ms});
    cfg_.set("middleman.connection-timeout", caf::timespan{0});
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    saga::journal_options jo;
    jo.node_id = "demo-observer";
    auto j = saga::make_journal(*sys_, o.redis, jo);
    if (!j)
      throw std::runtime_error(saga::describe(j.error()));
    journal_ = *j;
    for (const char* s : {"account-server", "inventory-server"})
      nodes_[s] = spawn_server(s);
    if (!http_log_) // with --http, the orchestrator declares it instead
      nodes_["log-server"] = spawn_server("log-server");
    nodes_["orchestrator"] = spawn_node("orchestrator", orchestrator_args());
    connect();
  }

  ~cluster_backend() override {
    caf::anon_send_exit(journal_, caf::exit_reason::user_shutdown);
    nodes_.clear();
  }

  void start(const saga::definition& d, callback done) override {
    auto gw = gateway();
    auto text = d.to_json().dump();
    sys_->spawn([gw, text, done](caf::event_based_actor* self) {
      self->monitor(gw);
      self->set_down_handler([self, done](caf::down_msg& msg) {
        saga::saga_result r;
        r.error = msg.reason;
        done(std::move(r));
        self->quit();
      });
      self->request(gw, caf::infinite, saga::run_atom::value, text)
        .then(
          [self, done](saga::saga_result& r) {
            done(std::move(r));
            self->quit();
          },
          [self, done](caf::error& err) {
            saga::saga_result r;
            r.error = std::move(err);
            done(std::move(r));
            self->quit();
          });
    });
  }

  void kill_server() override {
    nodes_["inventory-server"]->signal(SIGKILL);
    nodes_["inventory-server"]->wait_exit(10s);
    // Down for a moment: steps time out and retry meanwhile.
    std::this_thread::sleep_for(500ms);
    nodes_["inventory-server"] = spawn_server("inventory-server");
  }

  std::vector<saga::saga_id> kill_orchestrator() override {
    nodes_["orchestrator"]->signal(SIGKILL);
    nodes_["orchestrator"]->wait_exit(10s);
    std::vector<saga::saga_id> ids;
    if (auto r = redis({"ZRANGE", "saga:unfinished:{orchestrator}", "0", "-1"}))
      for (size_t i = 0; i < r->elements; ++i)
        ids.emplace_back(r->element[i]->str, r->element[i]->len);
    nodes_["orchestrator"] = spawn_node("orchestrator", orchestrator_args());
    connect();
    return ids;
  }

  size_t unfinished() override {
    auto r = redis({"ZCARD", "saga:unfinished:{orchestrator}"});
    return r ? static_cast<size_t>(r->integer) : 0;
  }

  hash read_hash(const std::string& key) override {
    hash result;
    if (auto r = redis({"HGETALL", key}))
      for (size_t i = 0; i + 1 < r->elements; i += 2)
        result.emplace(std::string{r->element[i]->str, r->element[i]->len},
                       std::string{r->element[i + 1]->str,
                                   r->element[i + 1]->len});
    return result;
  }

  void write_hash(const std::string& key, const hash& values) override {
    for (const auto& [f, v] : values)
      redis({"HSET", key, f, v});
  }

  std::optional<saga::saga_log> log(const saga::saga_id& id) override {
    std::optional<saga::saga_log> result;
    caf::scoped_actor self{*sys_};
    self->request(journal_, 10s, saga::read_atom::value, id)
      .receive(
        [&](std::vector<saga::event>& events) {
          if (auto st = saga::replay(id, events))
            result = saga::make_log(*st, std::move(events));
        },
        [](caf::error&) {});
    return result;
  }

private:
  /// Starts the node of game server `id` with the demo's faults.
  std::unique_ptr<saga::test::child_process>
  spawn_server(const std::string& id) {
    return spawn_node(id,
                      {"--participants=" + id,
                       "--fail-rate=" + std::to_string(opts_.faults.fail_rate),
                       "--slow-rate="
                         + std::to_string(opts_.faults.slow_rate)});
  }

  /// Returns the orchestrator's arguments: with --http, it declares the log
  /// server as an HTTP participant, cut off with the step's 1 s timeout.
  std::vector<std::string> orchestrator_args() const {
    std::vector<std::string> args{"--coordinate"};
    if (http_log_)
      args.insert(args.end(),
                  {"--http-participants=log-server=" + http_log_->url(),
                   "--http-timeout=1s"});
    return args;
  }

  /// Returns the reply to `args`, or null if Redis failed to answer.
  saga::redis_reply redis(const std::vector<std::string>& args) {
    std::lock_guard<std::mutex> guard{redis_mtx_};
    if (!conn_ || conn_->broken()) {
      auto c
        = saga::redis_connection::connect(*saga::parse_redis_url(opts_.redis),
                                          2s);
      if (!c)
        return nullptr;
      conn_ = std::move(*c);
    }
    std::vector<std::string_view> argv(args.begin(), args.end());
    auto r = conn_->command(argv);
    return r ? std::move(*r) : nullptr;
  }

  std::unique_ptr<saga::test::child_process>
  spawn_node(const std::string& id, std::vector<std::string> args) {
    args.insert(args.begin(),
                {"--node-id=" + id, "--redis=" + opts_.redis, "--lease=1s",
                 "--heartbeat-interval=200ms", "--connection-timeout=1s"});
    auto p = std::make_unique<saga::test::child_process>(SAGA_NODE_EXE, args,
                                                         opts_.logs + "/demo-"
                                                           + id + ".log");
    if (!p->wait_for_line("ready port=", 30s))
      throw std::runtime_error("node " + id + " did not start; see "
                               + opts_.logs + "/demo-" + id + ".log");
    auto line = *p->wait_for_line("ready port=", 1s);
    ports_[id] = static_cast<uint16_t>(
      std::stoul(line.substr(line.find("port=") + 5)));
    return p;
  }

  void connect() {
    auto gw = sys_->middleman()
                .remote_actor<saga::gateway_actor>("127.0.0.1",
                                                   ports_["orchestrator"]);
    if (!gw)
      throw std::runtime_error("cannot reach the orchestrator: "
                               + saga::describe(gw.error()));
    std::lock_guard<std::mutex> guard{gw_mtx_};
    gateway_ = *gw;
  }

  saga::gateway_actor gateway() {
    std::lock_guard<std::mutex> guard{gw_mtx_};
    return gateway_;
  }

  options opts_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  saga::journal_actor journal_;
  std::map<std::string, std::unique_ptr<saga::test::child_process>> nodes_;
  std::map<std::string, uint16_t> ports_;
  std::mutex gw_mtx_;
  saga::gateway_actor gateway_;
  std::mutex redis_mtx_;
  std::optional<saga::redis_connection> conn_;
};

/// Everything in this process on the memory journal.
class memory_backend : public backend {
public:
  explicit memory_backend(const options& o) : backend(o) {
    saga::add_message_types(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    store_ = std::make_shared<saga::memory_store>();
    journal_ = saga::spawn_memory_journal(*sys_, store_, {"orchestrator", 1});
    saga::runtime_config rc;
    rc.journal.node_id = "orchestrator";
    rc.journal.epoch = 1;
    rt_ = std::make_unique<saga::runtime>(*sys_, journal_, rc);
    for (const char* s : {"account-server", "inventory-server"})
      demo::add_game_server(rt_->participant(s), o.faults);
    if (!http_log_)
      demo::add_game_server(rt_->participant("log-server"), o.faults);
    else if (auto err = add_http_log()) {
      stop(); // no destructor runs after a throw from here
      throw std::runtime_error(saga::describe(err));
    }
  }

  ~memory_backend() override {
    stop();
  }

  void start(const saga::definition& d, callback done) override {
    rt_->execute(d, std::move(done));
  }

  void kill_server() override {
    caf::anon_send(caf::actor_cast<caf::actor>(
                     rt_->participant("inventory-server").handle()),
                   saga::crash_atom::value); // its supervisor restarts it
  }

  std::vector<saga::saga_id> kill_orchestrator() override {
    auto before = rt_->coordinator();
    auto page = store_->unfinished("", 100'000, "orchestrator");
    // Its waiters learn it stopped; its supervisor starts a new one.
    auto h = caf::actor_cast<caf::actor>(before);
    caf::anon_send(h, caf::exit_msg{h.address(),
                                    saga::make_error(saga::errc::injected_fault,
                                                     "demo: orchestrator "
                                                     "killed")});
    while (rt_->coordinator() == before)
      std::this_thread::sleep_for(5ms); // the supervisor restarts it
    rt_->recover();
    return page.ids;
  }

  size_t unfinished() override {
    return store_->unfinished("", 100'000, "orchestrator").ids.size();
  }

  hash read_hash(const std::string& key) override {
    return store_->read_hash(key);
  }

  void write_hash(const std::string& key, const hash& values) override {
    store_->write_hash(key, values);
  }

  std::optional<saga::saga_log> log(const saga::saga_id& id) override {
    return rt_->saga_log(id);
  }

private:
  /// Declares the log server as the HTTP participant of the log service,
  /// cut off with the step's 1 s timeout.
  caf::error add_http_log() {
    saga::http_participant_config hp;
    hp.base_url = http_log_->url();
    hp.timeout = 1s;
    return rt_->http_participant("log-server", hp);
  }

  void stop() {
    rt_.reset();
    caf::anon_send_exit(journal_, caf::exit_reason::user_shutdown);
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_ptr<saga::memory_store> store_;
  saga::journal_actor journal_;
  std::unique_ptr<saga::runtime> rt_;
};

// -- the run ------------------------------------------------------------------------

enum class kind { purchase, trade };

struct tally {
  size_t completed = 0;
  size_t compensated = 0;
  size_t failed = 0;
};

int64_t sum(const hash& h) {
  int64_t n = 0;
  for (const auto& [k, v] : h)
    n += std::stoll(v);
  return n;
}

/// Prints a saga's log as its flow: executes to the right, compensations
/// back to the left.
void draw(const saga::saga_log& log) {
  std::cout << "saga " << log.saga_id << " (" << log.name << ") ended "
            << saga::to_string(log.status) << ": " << log.error << "\n";
  for (const auto& s : log.steps) {
    std::cout << "  " << std::left << std::setw(36) << s.name << " ";
    using saga::step_status;
    switch (s.status) {
      case step_status::compensated:
        std::cout << "--execute--> done  <--compensate-- undone";
        break;
      case step_status::failed:
        std::cout << "--execute--> FAILED (" << s.error << ")";
        break;
      case step_status::completed: std::cout << "--execute--> done"; break;
      default: std::cout << "   (not run: " << saga::to_string(s.status) << ")";
    }
    if (s.attempts > 1)
      std::cout << "  [" << s.attempts << " attempts]";
    std::cout << "\n";
  }
}

/// Returns where the sagas run, for the first line.
std::string where(const options& o) {
  if (o.memory)
    return o.http ? "one process, memory journal; log-server: an HTTP service "
                    "(python)"
                  : "one process, memory journal";
  return o.http ? "3 nodes and log-server as an HTTP service (python), Redis "
                    + o.redis
                : "4 nodes, Redis " + o.redis;
}

int run(const options& o) {
  std::unique_ptr<backend> b;
  try {
    if (o.memory)
      b = std::make_unique<memory_backend>(o);
    else
      b = std::make_unique<cluster_backend>(o);
  } catch (const std::exception& e) {
    std::cerr << "purchase_demo: " << e.what() << "\n";
    return 2;
  }
  auto realm = "r"
               + std::to_string(
                 std::chrono::system_clock::now().time_since_epoch().count());
  // -- seed: every player has 1000 coins and 3 items.
  std::vector<std::string> players;
  hash balances;
  hash items;
  std::vector<std::vector<std::string>> owned(o.players);
  for (size_t i = 0; i < o.players; ++i) {
    players.push_back("player" + std::to_string(i));
    balances[players.back()] = "1000";
    for (int k = 0; k < 3; ++k) {
      owned[i].push_back("heirloom" + std::to_string(i) + "-"
                         + std::to_string(k));
      items[players.back() + "/" + owned[i].back()] = "1";
    }
  }
  b->write_hash(demo::balance_key(realm), balances);
  b->write_hash(demo::items_key(realm), items);
  auto money_before = sum(b->read_hash(demo::balance_key(realm)));
  auto items_before = sum(b->read_hash(demo::items_key(realm)));
  // -- the sagas, decided up front.
  std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit{0, 1};
  const char* catalog[] = {"sword", "shield", "potion", "bow", "dragon-egg"};
  std::vector<std::pair<kind, saga::definition>> plan;
  for (size_t i = 0; i < o.sagas; ++i) {
    auto a = rng() % o.players;
    if (unit(rng) < o.trade_share) {
      auto c = (a + 1 + rng() % (o.players - 1)) % o.players;
      plan.emplace_back(kind::trade,
                        demo::make_trade(realm, players[a],
                                         {owned[a][rng() % 3]}, players[c],
                                         {owned[c][rng() % 3]}));
    } else {
      plan.emplace_back(kind::purchase,
                        demo::make_game_purchase(realm, players[a],
                                                 catalog[rng() % 5],
                                                 static_cast<int64_t>(
                                                   10 + rng() % 91)));
    }
  }
  // -- run them, `concurrency` at a time.
  std::mutex mtx;
  std::condition_variable cv;
  size_t next = 0;
  size_t answered = 0;
  size_t lost = 0;
  bool paused = false;
  std::map<kind, tally> tallies;
  std::vector<saga::saga_id> compensated;
  std::function<void()> launch_more;
  auto on_result = [&](kind k, const saga::saga_result& r) {
    std::lock_guard<std::mutex> guard{mtx};
    ++answered;
    if (r.saga_id.empty() || !saga::is_terminal(r.state)) {
      ++lost; // its orchestrator died; the next one finishes it
    } else if (r.state == saga::saga_status::completed) {
      ++tallies[k].completed;
    } else if (r.state == saga::saga_status::compensated) {
      ++tallies[k].compensated;
      compensated.push_back(r.saga_id);
    } else {
      ++tallies[k].failed;
    }
    cv.notify_all();
  };
  auto started = std::chrono::steady_clock::now();
  auto pump = [&] {
    // Called with `mtx` held: start sagas up to the window.
    while (!paused && next < plan.size() && next - answered < o.concurrency) {
      auto i = next++;
      auto k = plan[i].first;
      b->start(plan[i].second, [&, k](const saga::saga_result& r) {
        on_result(k, r);
        std::lock_guard<std::mutex> guard{mtx};
        cv.notify_all();
      });
    }
  };
  auto progress = [&](bool final) {
    size_t done = 0;
    for (auto& [k, t] : tallies)
      done += t.completed + t.compensated + t.failed;
    std::ostringstream line;
    line << "sagas started " << next << "/" << plan.size() << ", completed "
         << tallies[kind::purchase].completed + tallies[kind::trade].completed
         << ", compensated "
         << tallies[kind::purchase].compensated
              + tallies[kind::trade].compensated
         << ", failed "
         << tallies[kind::purchase].failed + tallies[kind::trade].failed
         << ", in flight " << next - answered << ", recovering " << lost;
    static const bool tty = isatty(STDOUT_FILENO) != 0;
    if (tty)
      std::cout << "\r" << line.str() << "   " << (final ? "\n" : "")
                << std::flush;
    else
      std::cout << line.str() << "\n" << std::flush;
  };
  std::vector<saga::saga_id> recovered;
  bool server_killed = !o.kill_server;
  bool orchestrator_killed = !o.kill_orchestrator;
  std::cout << "running " << plan.size() << " sagas (" << o.players
            << " players, " << o.concurrency << " at once, fail rate "
            << o.faults.fail_rate << ", slow rate " << o.faults.slow_rate
            << ") on " << where(o) << "\n";
  {
    std::unique_lock<std::mutex> guard{mtx};
    pump();
    auto last_print = std::chrono::steady_clock::now();
    while (answered < plan.size()) {
      cv.wait_for(guard, 100ms);
      pump();
      if (!server_killed && next >= plan.size() * 3 / 10) {
        server_killed = true;
        guard.unlock();
        std::cout << (isatty(STDOUT_FILENO) ? "\n" : "")
                  << "!! killing inventory-server (SIGKILL), restarting it\n";
        b->kill_server();
        guard.lock();
      }
      if (!orchestrator_killed && next >= plan.size() * 6 / 10) {
        orchestrator_killed = true;
        paused = true;
        guard.unlock();
        std::cout << (isatty(STDOUT_FILENO) ? "\n" : "")
                  << "!! killing the orchestrator (SIGKILL) mid-run, "
                     "restarting it\n";
        auto ids = b->kill_orchestrator();
        std::cout << "!! the new orchestrator recovers " << ids.size()
                  << " unfinished sagas\n";
        guard.lock();
        recovered.insert(recovered.end(), ids.begin(), ids.end());
        paused = false;
        pump();
      }
      static const bool tty = isatty(STDOUT_FILENO) != 0;
      if (std::chrono::steady_clock::now() - last_print
          > (tty ? 250ms : 1000ms)) {
        progress(false);
        last_print = std::chrono::steady_clock::now();
      }
    }
    progress(true);
  }
  // -- every saga must end, those recovered included.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (b->unfinished() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms); // the orchestrator finishes them
  size_t open = b->unfinished();
  tally recovered_tally;
  for (const auto& id : recovered) {
    auto log = b->log(id);
    if (!log) {
      // Listed but never written: the orchestrator died between listing
      // the saga and its first event, so it never existed (recovery drops
      // the entry; its client lost the answer, counted below).
      continue;
    }
    if (!saga::is_terminal(log->status)) {
      ++open;
      continue;
    }
    if (log->status == saga::saga_status::completed)
      ++recovered_tally.completed;
    else if (log->status == saga::saga_status::compensated)
      ++recovered_tally.compensated;
    else
      ++recovered_tally.failed;
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - started)
                .count();
  // -- summary.
  std::cout << "\n"
            << std::left << std::setw(28) << "" << std::right << std::setw(10)
            << "completed" << std::setw(13) << "compensated" << std::setw(8)
            << "failed"
            << "\n";
  auto row = [](const char* name, const tally& t) {
    std::cout << std::left << std::setw(28) << name << std::right
              << std::setw(10) << t.completed << std::setw(13) << t.compensated
              << std::setw(8) << t.failed << "\n";
  };
  row("purchases", tallies[kind::purchase]);
  row("trades", tallies[kind::trade]);
  row("recovered after the crash", recovered_tally);
  auto never_started = lost - std::min(lost, recovered.size());
  if (never_started > 0)
    std::cout << never_started
              << " more lost their answer with the orchestrator (they ended "
                 "just before it died, or never started); the check below "
                 "covers them\n";
  std::cout << plan.size() << " sagas in " << std::fixed << std::setprecision(1)
            << secs << " s; " << open << " left unfinished\n\n";
  // -- conservation: the servers' own data against the sagas' outcomes.
  hash purchases;
  try {
    purchases = b->purchases(realm);
  } catch (const std::exception& e) {
    std::cerr << "purchase_demo: cannot read the purchases: " << e.what()
              << "\n";
    return 1;
  }
  auto money_after = sum(b->read_hash(demo::balance_key(realm)));
  auto items_after = sum(b->read_hash(demo::items_key(realm)));
  auto spent = sum(purchases);
  auto bought = static_cast<int64_t>(purchases.size());
  bool money_ok = money_after == money_before - spent;
  bool items_ok = items_after == items_before + bought;
  std::cout << "conservation check (log-server"
            << (o.http ? ", an HTTP service in python" : "") << ": " << bought
            << " purchases logged, " << spent << " coins)\n"
            << "  money  before " << money_before << ", after " << money_after
            << ", expected " << money_before - spent << "  "
            << (money_ok ? "OK" : "MISMATCH") << "\n"
            << "  items  before " << items_before << ", after " << items_after
            << ", expected " << items_before + bought << "  "
            << (items_ok ? "OK" : "MISMATCH") << "\n\n";
  // Show a compensated saga, one that undid a step if there is one.
  std::optional<saga::saga_log> shown;
  for (const auto& id : compensated) {
    auto log = b->log(id);
    if (!log)
      continue;
    if (!shown)
      shown = log;
    auto undid = std::any_of(log->steps.begin(), log->steps.end(),
                             [](const saga::step_log& s) {
                               return s.status
                                      == saga::step_status::compensated;
                             });
    if (undid) {
      shown = log;
      break;
    }
  }
  if (shown)
    draw(*shown);
  bool ok = money_ok && items_ok && open == 0;
  std::cout << "\n"
            << (ok ? "PASS" : "FAIL")
            << ": every saga ended and money and items add up\n";
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (!o.memory && o.redis.empty()) {
    if (auto* env = std::getenv("SAGA_REDIS_URL"))
      o.redis = env;
    else {
      std::cerr << "purchase_demo: no Redis: pass --redis URL, set "
                   "SAGA_REDIS_URL, run scripts/demo.sh (which starts one) "
                   "or use --journal memory\n";
      return 77;
    }
  }
  if (!o.memory)
    if (auto ep = saga::parse_redis_url(o.redis); !ep) {
      std::cerr << "purchase_demo: --redis: " << saga::describe(ep.error())
                << "\n";
      return 2;
    }
  return run(o);
}
