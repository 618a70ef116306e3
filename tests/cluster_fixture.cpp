#include "tests/cluster_fixture.hpp"

#include <cstdio>
#include <sstream>
#include <thread>

#include <hiredis/hiredis.h>

#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "demo/shop.hpp"
#include "tests/support/redis_cluster.hpp"

namespace saga::test {

namespace {

/// A one-shot hiredis connection to the test's Redis.
struct redis_client {
  explicit redis_client(int port) {
    ctx = redisConnect("127.0.0.1", port);
  }
  ~redis_client() {
    if (ctx != nullptr)
      redisFree(ctx);
  }
  redisReply* cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(),
                       lens.data()));
  }
  redisContext* ctx = nullptr;
};

std::map<std::string, std::string> hgetall(int port, const std::string& key) {
  redis_client c{port};
  std::map<std::string, std::string> result;
  auto* r = c.cmd({"HGETALL", key});
  if (r != nullptr && r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i + 1 < r->elements; i += 2)
      result.emplace(std::string{r->element[i]->str, r->element[i]->len},
                     std::string{r->element[i + 1]->str,
                                 r->element[i + 1]->len});
  freeReplyObject(r);
  return result;
}

} // namespace

void cluster_fixture::SetUp() {
  // Fresh logs for this test's nodes (child_process appends).
  auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  for (const char* id : {"a", "b", "b1", "b2", "c", "p"})
    std::remove(
      (std::string{"cluster-"} + test->name() + "-" + id + ".log").c_str());
  if (on_redis_cluster_) {
    auto* cluster = shared_cluster();
    ASSERT_NE(cluster, nullptr) << "the cluster did not start (see stderr)";
    url_ = cluster->url();
  } else {
    redis_ = std::make_unique<redis_server>(redis_args_);
    ASSERT_TRUE(redis_->start());
    url_ = redis_->url();
  }
  client_cfg_ = std::make_unique<caf::actor_system_config>();
  add_message_types(*client_cfg_);
  client_cfg_->load<caf::io::middleman>();
  // The client sends heartbeats (nodes drop peers silent for a second) but
  // never times a node out itself: it keeps its connection to a node the
  // test pauses, so replies sent after SIGCONT still arrive.
  client_cfg_->set("middleman.heartbeat-interval",
                   caf::timespan{std::chrono::milliseconds{200}});
  client_cfg_->set("middleman.connection-timeout", caf::timespan{0});
  client_cfg_->set("scheduler.max-threads", 2);
  client_ = std::make_unique<caf::actor_system>(*client_cfg_);
  journal_options opts;
  opts.node_id = "observer";
  auto j = make_journal(*client_, url_, opts);
  ASSERT_TRUE(j) << describe(j.error());
  reader_ = *j;
}

void cluster_fixture::TearDown() {
  nodes_.clear(); // SIGKILL whatever still runs
  if (reader_)
    caf::anon_send_exit(reader_, caf::exit_reason::user_shutdown);
  reader_ = nullptr;
  client_.reset();
  redis_.reset();
}

std::vector<std::string>
cluster_fixture::base_args(const std::string& id) const {
  return {"--node-id=" + id, "--redis=" + url_, std::string{"--lease="} + lease,
          "--heartbeat-interval=200ms", "--connection-timeout=1s"};
}

std::string cluster_fixture::log_path(const std::string& id) {
  // One log per test and node, beside the test binary (ctest runs tests in
  // parallel).
  auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string{"cluster-"} + (test ? test->name() : "x") + "-" + id
         + ".log";
}

bool cluster_fixture::eventually(const std::function<bool()>& pred,
                                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return true;
}

long long cluster_fixture::redis_int(const std::vector<std::string>& cmd) {
  redis_client c{redis_->port()};
  auto* r = c.cmd(cmd);
  long long result = -1;
  if (r != nullptr && r->type == REDIS_REPLY_INTEGER)
    result = r->integer;
  else if (r != nullptr && r->type == REDIS_REPLY_NIL)
    result = 0;
  else if (r != nullptr && r->type == REDIS_REPLY_STRING) // e.g. ZSCORE
    result = std::stoll(std::string{r->str, r->len});
  freeReplyObject(r);
  return result;
}

std::map<std::string, std::string>
cluster_fixture::redis_hash(const std::string& key) {
  return hgetall(redis_->port(), key);
}

node_process& cluster_fixture::start_node(const std::string& id,
                                          std::vector<std::string> args) {
  auto argv = base_args(id);
  argv.insert(argv.end(), args.begin(), args.end());
  node_process n;
  n.id = id;
  auto log = log_path(id);
  n.proc = std::make_unique<child_process>(SAGA_NODE_EXE, argv, log);
  auto line = n.proc->wait_for_line("ready port=", std::chrono::seconds{30});
  if (!line) {
    ADD_FAILURE() << "node " << id << " did not start; its output:";
    for (const auto& l : n.proc->lines())
      ADD_FAILURE() << "  " << l;
    throw std::runtime_error("node " + id + " did not start");
  }
  auto p = line->find("port=");
  n.port = static_cast<uint16_t>(std::stoul(line->substr(p + 5)));
  n.epoch = std::stoull(line->substr(line->find("epoch=") + 6));
  nodes_.erase(id);
  return nodes_.emplace(id, std::move(n)).first->second;
}

gateway_actor cluster_fixture::gateway(const node_process& n) {
  auto gw = client_->middleman().remote_actor<gateway_actor>("127.0.0.1",
                                                             n.port);
  if (!gw)
    throw std::runtime_error("no gateway on node " + n.id + ": "
                             + describe(gw.error()));
  return *gw;
}

std::future<std::vector<saga_result>>
cluster_fixture::run_purchases(const gateway_actor& gw,
                               const std::vector<std::string>& items,
                               int64_t price) {
  std::vector<std::string> defs;
  defs.reserve(items.size());
  for (const auto& item : items)
    defs.push_back(demo::make_purchase("p", item, price).to_json().dump());
  return run_definitions(gw, defs);
}

std::future<std::vector<saga_result>>
cluster_fixture::run_definitions(const gateway_actor& gw,
                                 const std::vector<std::string>& defs) {
  auto done = std::make_shared<std::promise<std::vector<saga_result>>>();
  auto result = done->get_future();
  client_->spawn([gw, defs, done](caf::event_based_actor* self) {
    auto results = std::make_shared<std::vector<saga_result>>();
    auto left = std::make_shared<size_t>(defs.size());
    auto one = [=](saga_result r) {
      results->push_back(std::move(r));
      if (--*left == 0) {
        done->set_value(std::move(*results));
        self->quit();
      }
    };
    // A killed node answers nothing: its sagas' results are lost to us
    // (they end elsewhere), so the connection's loss ends the wait.
    self->monitor(gw);
    self->set_down_handler([=](caf::down_msg& msg) {
      while (*left > 0) {
        saga_result r;
        r.error = msg.reason;
        one(std::move(r));
      }
    });
    for (const auto& d : defs)
      self->request(gw, std::chrono::seconds{120}, run_atom::value, d)
        .then([one](saga_result& r) { one(std::move(r)); },
              [one](caf::error& err) {
                saga_result r;
                r.error = std::move(err);
                one(std::move(r));
              });
  });
  return result;
}

std::vector<std::string> cluster_fixture::saga_ids() {
  redis_client c{redis_->port()};
  std::vector<std::string> ids;
  std::string cursor = "0";
  do {
    auto* r = c.cmd(
      {"SCAN", cursor, "MATCH", "saga:{*}:events", "COUNT", "1000"});
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      freeReplyObject(r);
      break;
    }
    cursor.assign(r->element[0]->str, r->element[0]->len);
    for (size_t i = 0; i < r->element[1]->elements; ++i) {
      std::string key{r->element[1]->element[i]->str,
                      r->element[1]->element[i]->len};
      ids.push_back(key.substr(6, key.size() - 6 - 8)); // saga:{ ... }:events
    }
    freeReplyObject(r);
  } while (cursor != "0");
  return ids;
}

saga_status cluster_fixture::status_of(const std::string& id) {
  saga_status result = saga_status::pending;
  caf::scoped_actor self{*client_};
  self->request(reader_, std::chrono::seconds{10}, read_atom::value, id)
    .receive(
      [&](std::vector<event>& events) {
        if (auto st = replay(id, events))
          result = st->status;
      },
      [](caf::error&) {});
  return result;
}

std::vector<std::string>
cluster_fixture::await_all_terminal(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> ids;
  for (;;) {
    ids = saga_ids();
    std::vector<std::string> open;
    for (const auto& id : ids)
      if (!is_terminal(status_of(id)))
        open.push_back(id);
    if (open.empty())
      return ids;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << open.size() << " of " << ids.size()
                    << " sagas did not end, e.g. " << open.front() << " ("
                    << to_string(status_of(open.front())) << ")\n"
                    << where_is(open.front());
      return ids;
    }
    // The sagas end in other processes; Redis is where we see it.
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

std::string cluster_fixture::where_is(const std::string& id) {
  // What an investigator needs of a saga left behind: who owns it, which
  // node index lists it, and its history (type, step, attempt, time).
  redis_client c{redis_->port()};
  std::ostringstream out;
  auto text = [](redisReply* r) {
    if (r == nullptr)
      return std::string{"(no reply)"};
    if (r->type == REDIS_REPLY_NIL)
      return std::string{"(nil)"};
    if (r->type == REDIS_REPLY_INTEGER)
      return std::to_string(r->integer);
    return std::string{r->str, r->len};
  };
  auto* owner = c.cmd({"GET", "saga:{" + id + "}:owner"});
  auto* ttl = c.cmd({"PTTL", "saga:{" + id + "}:owner"});
  out << "owner " << text(owner) << " (pttl " << text(ttl) << ")";
  freeReplyObject(owner);
  freeReplyObject(ttl);
  for (const auto& [node, _] : nodes_) {
    auto* score = c.cmd({"ZSCORE", "saga:unfinished:{" + node + "}", id});
    out << ", listed for " << node << ": " << text(score);
    freeReplyObject(score);
  }
  out << "\nhistory:";
  auto* events = c.cmd({"XRANGE", "saga:{" + id + "}:events", "-", "+"});
  for (size_t i = 0; events != nullptr && events->type == REDIS_REPLY_ARRAY
                     && i < events->elements;
       ++i) {
    auto* fields = events->element[i]->element[1];
    out << "\n  " << text(events->element[i]->element[0]);
    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
      auto name = text(fields->element[f]);
      if (name != "data")
        out << " " << name << "=" << text(fields->element[f + 1]);
    }
  }
  freeReplyObject(events);
  return out.str();
}

void cluster_fixture::expect_consistent(const std::vector<std::string>& ids) {
  auto debits = hgetall(redis_->port(), "shop:debits");
  auto grants = hgetall(redis_->port(), "shop:grants");
  auto purchases = hgetall(redis_->port(), "shop:purchases");
  auto balance = hgetall(redis_->port(), "shop:balance");
  long long debited = 0;
  std::set<std::string> known(ids.begin(), ids.end());
  for (const auto& id : ids) {
    auto st = status_of(id);
    bool d = debits.count(id) > 0;
    bool g = grants.count(id) > 0;
    bool r = purchases.count(id) > 0;
    if (st == saga_status::completed) {
      EXPECT_TRUE(d && g && r)
        << "completed saga " << id << " is missing effects";
      if (d)
        debited += std::stoll(debits[id]);
    } else {
      EXPECT_FALSE(d || g || r) << "saga " << id << " ended " << to_string(st)
                                << " but left effects: debit " << d
                                << ", grant " << g << ", record " << r;
    }
  }
  for (const auto& [id, amount] : debits)
    EXPECT_TRUE(known.count(id) > 0) << "a debit of unknown saga " << id;
  auto b = balance.count("p") > 0 ? std::stoll(balance["p"]) : 0LL;
  EXPECT_EQ(b, -debited) << "balance of p does not match the debits";
}

} // namespace saga::test
