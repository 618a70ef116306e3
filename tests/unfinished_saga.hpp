#pragma once

// Leaves a saga unfinished in a runtime's journal, as a node that stopped in
// the middle of it would. Tests only: blocks the caller.

#include <future>
#include <memory>
#include <vector>

#include "saga/saga.hpp"

namespace saga::test {

/// Runs `d` on `rt`, whose participant "p" completes step "a" and never
/// answers step "b", then destroys `rt` with "b" in flight. Returns the
/// saga's id. `d` runs "a" and then "b" on participant "p".
inline saga_id leave_unfinished(std::unique_ptr<runtime> rt,
                                const definition& d) {
  // b keeps its responder past the runtime's end: it never answers (a
  // dropped responder would answer "outcome unknown" at once). `held` is
  // declared before the runtime's last owner below, so it outlives it.
  std::vector<responder> held;
  auto owned = std::move(rt);
  std::promise<saga_id> stuck;
  auto ok = [](const step_context&, const json&) { return step_outcome::ok(); };
  owned->participant("p")
    .on("a", ok, ok)
    .on_async(
      "b",
      [&stuck, &held](const step_context& ctx, const json&, responder r) {
        held.push_back(std::move(r));
        stuck.set_value(ctx.id());
      },
      [](const step_context&, const json&, responder r) {
        r.deliver(step_outcome::ok());
      });
  owned->execute(d, [](const saga_result&) {});
  auto id = stuck.get_future().get();
  owned.reset();
  return id;
}

} // namespace saga::test
