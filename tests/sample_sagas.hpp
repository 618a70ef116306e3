#pragma once

// Two small sagas run to their end by a real runtime on a Redis journal,
// for tests of what operators read back (catalog, sagactl).

#include <string>

#include <gtest/gtest.h>

#include "saga/saga.hpp"

namespace saga::test {

/// The sagas run_sample_sagas() leaves in the journal.
struct sample_sagas {
  /// "good": one step "ok" on participant "p"; completed.
  saga_id completed;
  /// "bad": "ok", then "no", which fails with `refusal`; compensated.
  saga_id compensated;
};

/// Runs the two sample sagas on the Redis journal at `journal_url` as node
/// `node_id`; fails the current test (and returns empty ids) if they do not
/// end completed and compensated.
inline sample_sagas run_sample_sagas(const std::string& journal_url,
                                     const std::string& node_id,
                                     const std::string& refusal) {
  runtime_config cfg;
  cfg.journal_url = journal_url;
  cfg.journal.node_id = node_id;
  runtime rt{cfg};
  EXPECT_FALSE(rt.start_error()) << describe(rt.start_error());
  if (rt.start_error())
    return {};
  rt.participant("p").on(
    "ok",
    [](const step_context&, const json&) {
      return step_outcome::ok({{"tx", 1}});
    },
    [](const step_context&, const json&) { return step_outcome::ok(); });
  rt.participant("p").on(
    "no",
    [refusal](const step_context&, const json&) {
      return step_outcome::fail(refusal);
    },
    [](const step_context&, const json&) { return step_outcome::ok(); });
  definition good{"good"};
  good.step("ok", "p");
  definition bad{"bad"};
  bad.step("ok", "p").step("no", "p");
  auto r1 = rt.execute(good).get();
  auto r2 = rt.execute(bad).get();
  EXPECT_EQ(r1.state, saga_status::completed) << describe(r1.error);
  EXPECT_EQ(r2.state, saga_status::compensated) << describe(r2.error);
  if (r1.state != saga_status::completed
      || r2.state != saga_status::compensated)
    return {};
  return {r1.saga_id, r2.saga_id};
}

} // namespace saga::test
