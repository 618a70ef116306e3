// A child process runs sagas on Redis and is killed with SIGKILL at 20
// different points (inside steps and inside compensations). A fresh runtime
// then recovers: every saga must reach a terminal state, each step's effect
// applied once, and compensated once wherever the saga turned back. On one
// redis-server, and on a Redis Cluster.

#include <csignal>
#include <cstdio>
#include <map>
#include <set>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <caf/scoped_actor.hpp>
#include <hiredis/hiredis.h>

#include "persistence/redis_connection.hpp"
#include "persistence/redis_journal.hpp"
#include "saga/saga.hpp"
#include "tests/await_saga.hpp"
#include "tests/effect_participant.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/redis_server.hpp"

extern char** environ;

namespace saga::test {
namespace {

constexpr int sagas_per_run = 12;

/// Runs the child until it printed `kill_after` effects (then SIGKILLs it)
/// or finished. Returns the number of effects it printed.
int run_child(const std::string& url, const std::string& node,
              const std::string& tag, int kill_after) {
  int fds[2];
  if (::pipe(fds) != 0)
    return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<std::string> args{SAGA_CRASH_CHILD, url, node, tag,
                                std::to_string(sagas_per_run)};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  auto rc = ::posix_spawn(&pid, SAGA_CRASH_CHILD, &actions, nullptr,
                          argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return -1;
  }
  FILE* out = ::fdopen(fds[0], "r");
  int effects = 0;
  char line[64];
  while (std::fgets(line, sizeof(line), out) != nullptr) {
    if (line[0] == 'e' && ++effects == kill_after) {
      ::kill(pid, SIGKILL);
      break;
    }
  }
  std::fclose(out);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return effects;
}

/// Runs the child on the journal at `url`, kills it at 20 points, and
/// checks that a fresh runtime ends every saga it left, each effect once.
void kill_at_twenty_points_and_recover(const std::string& url) {
  auto ep = parse_redis_url(url);
  ASSERT_TRUE(ep) << describe(ep.error());
  auto admin = redis_connection::connect(*ep, std::chrono::seconds{2});
  ASSERT_TRUE(admin) << describe(admin.error());
  int points = 0;
  int killed_runs = 0;
  for (int kill_after = 1; points < 20; kill_after += 2, ++points) {
    auto tag = "run" + std::to_string(kill_after);
    auto node = "crash-" + tag;
    SCOPED_TRACE("killed after effect " + std::to_string(kill_after));
    auto printed = run_child(url, node, tag, kill_after);
    ASSERT_GE(printed, 0) << "cannot start " << SAGA_CRASH_CHILD;
    if (printed == kill_after)
      ++killed_runs;
    // The sagas the dead node left unfinished.
    auto listed = admin->command(
      {"ZRANGE", redis_unfinished_key(node), "0", "-1"});
    ASSERT_TRUE(listed);
    std::vector<saga_id> unfinished;
    for (size_t i = 0; i < (*listed)->elements; ++i)
      unfinished.emplace_back((*listed)->element[i]->str);
    // A fresh node with the same id recovers them.
    runtime_config cfg;
    cfg.journal_url = url;
    cfg.journal.node_id = node;
    runtime rt{cfg};
    ASSERT_FALSE(rt.start_error());
    add_effect_participant(rt, url, tag, false);
    // A saga killed between its last append and its unlisting is listed
    // but ended: recovery unlists it without resuming it.
    EXPECT_LE(rt.recover(), unfinished.size());
    // A saga listed but never written (the node died between listing it
    // and its first batch) never existed: recovery drops its entry, and
    // nothing may have been sent for it.
    std::set<saga_id> never_written;
    for (const auto& id : unfinished) {
      auto r = await_saga(rt, id);
      if (is(r.error, errc::unknown_saga)) {
        never_written.insert(id);
        continue;
      }
      EXPECT_TRUE(is_terminal(r.state)) << id << ": " << describe(r.error);
    }
    // Every saga that did anything, and every one left unfinished.
    auto calls = read_hash(url, "calls:{" + tag + "}");
    auto effects = read_hash(url, "effects:{" + tag + "}");
    std::set<saga_id> ids(unfinished.begin(), unfinished.end());
    for (const auto& id : never_written)
      ids.erase(id);
    for (const auto& [field, n] : calls) {
      EXPECT_EQ(never_written.count(field.substr(0, field.find('/'))), 0u)
        << field << ": a command left for a saga never written";
      ids.insert(field.substr(0, field.find('/')));
      EXPECT_LE(n, 2) << field << ": sent more than once per incarnation";
    }
    for (const auto& id : ids) {
      auto log = rt.saga_log(id);
      ASSERT_TRUE(log) << id;
      EXPECT_TRUE(log->status == saga_status::completed
                  || log->status == saga_status::compensated)
        << id << " ended " << to_string(log->status);
      for (const char* step : {"s1", "s2", "s3"}) {
        auto key = id + "/" + step;
        auto executed = effects.count(key + "/exec") > 0;
        auto compensated = effects.count(key + "/comp") > 0;
        if (log->status == saga_status::completed) {
          EXPECT_TRUE(executed) << key << " completed without its effect";
          EXPECT_FALSE(compensated) << key << " compensated in a success";
        } else if (executed) {
          EXPECT_TRUE(compensated) << key << " took effect, never undone";
        }
      }
    }
    EXPECT_TRUE(
      admin->command({"ZCARD", redis_unfinished_key(node)}).value()->integer
      == 0);
  }
  EXPECT_GE(killed_runs, 20) << "some kill points came after the run ended";
}

TEST(crash_recovery, sigkill_at_twenty_points_then_recover_ends_every_saga) {
  redis_server server;
  ASSERT_TRUE(server.start());
  kill_at_twenty_points_and_recover(server.url());
}

// The same on a real Redis Cluster (3 masters, 3 replicas): the journal,
// the barrier and the recovery all through redis+cluster:// (issue 22).
TEST(crash_recovery, on_a_redis_cluster_too) {
  auto* cluster = shared_cluster();
  ASSERT_NE(cluster, nullptr) << "the cluster did not start (see stderr)";
  kill_at_twenty_points_and_recover(cluster->url());
}

} // namespace
} // namespace saga::test
