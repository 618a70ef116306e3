// Runs crash-test sagas until the parent kills it (tests/crash_test.cpp).
// Usage: saga_crash_child <redis-url> <node-id> <tag> <sagas>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <vector>

#include "saga/saga.hpp"
#include "tests/effect_participant.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <redis-url> <node-id> <tag> <sagas>\n",
                 argv[0]);
    return 2;
  }
  saga::runtime_config cfg;
  cfg.journal_url = argv[1];
  cfg.journal.node_id = argv[2];
  saga::runtime rt{cfg};
  if (auto err = rt.start_error()) {
    std::fprintf(stderr, "%s\n", saga::describe(err).c_str());
    return 1;
  }
  saga::test::add_effect_participant(rt, argv[1], argv[3], true);
  std::vector<std::future<saga::saga_result>> results;
  auto n = std::atoi(argv[4]);
  results.reserve(n > 0 ? static_cast<size_t>(n) : 0);
  for (int i = 0; i < n; ++i)
    results.push_back(rt.execute(saga::test::crash_saga(i)));
  for (auto& f : results)
    f.get();
  std::fputs("done\n", stdout);
  std::fflush(stdout);
  return 0;
}
