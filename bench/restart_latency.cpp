// Restart latency of a saga actor: crash → its supervisor restarts it → the
// new incarnation replays the journal → the in-flight step reaches the
// participant again. Measured over many crashes, on any journal.
//
//   restart_latency [--journal URL] [--crashes N]
//
// Prints p50/p99 of crash-to-resent time, and the same minus the restart
// backoff (10 ms for a saga's first restart), i.e. what the restart itself
// costs: supervision, journal read, replay, resend.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "core/crash_atom.hpp"
#include "saga/saga.hpp"
#include "tools/args.hpp"

int main(int argc, char** argv) {
  std::string journal = "memory://";
  int crashes = 200;
  saga::tools::arg_parser args{
    "restart_latency",
    "restart_latency: crash -> supervisor restart -> replay -> the in-flight\n"
    "step re-sent, measured over many crashes (p50/p99)."};
  args.text("--journal", journal, "the journal's URL").value_name("URL");
  args.integer("--crashes", crashes, "crashes measured", 1, 1'000'000);
  args.parse_or_exit(argc, argv);
  saga::runtime_config cfg;
  cfg.journal_url = journal;
  cfg.journal.node_id = "restart-bench";
  saga::runtime rt{cfg};
  if (auto err = rt.start_error()) {
    std::fprintf(stderr, "%s\n", saga::describe(err).c_str());
    return 1;
  }
  using clock = std::chrono::steady_clock;
  std::mutex mtx;
  std::condition_variable cv;
  int calls = 0;
  clock::time_point last_call;
  // A raw participant (no barrier: a barrier would, rightly, treat the
  // restarted saga's re-sent request as a duplicate of the one in flight).
  // "hold" never answers by itself: the saga waits in it and is crashed;
  // release_atom answers everything held.
  using release_atom = caf::atom_constant<caf::atom("b_release")>;
  using holder_actor
    = saga::participant_actor::extend<caf::reacts_to<release_atom>>;
  struct holder_state {
    std::vector<caf::typed_response_promise<saga::step_reply>> held;
  };
  auto holder = rt.system().spawn(
    [&](holder_actor::stateful_pointer<holder_state> self)
      -> holder_actor::behavior_type {
      return {
        [&, self](saga::execute_atom, const saga::step_command&) {
          auto rp = self->make_response_promise<saga::step_reply>();
          self->state.held.push_back(rp);
          std::lock_guard<std::mutex> guard{mtx};
          ++calls;
          last_call = clock::now();
          cv.notify_all();
          return rp;
        },
        [](saga::compensate_atom, const saga::step_command&) {
          saga::step_reply r;
          r.ok = true;
          return r;
        },
        [self](release_atom) {
          saga::step_reply r;
          r.ok = true;
          for (auto& rp : self->state.held)
            rp.deliver(r);
          self->state.held.clear();
        },
      };
    });
  rt.register_participant("p", holder);
  std::vector<double> total_us;
  caf::scoped_actor self{rt.system()};
  for (int n = 0; n < crashes; ++n) {
    saga::definition d{"restart"};
    d.step("hold", "p").timeout(std::chrono::seconds{60});
    std::promise<saga::saga_result> done;
    rt.execute(d, [&done](const saga::saga_result& r) { done.set_value(r); });
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [&] { return calls == 2 * n + 1; });
    guard.unlock();
    auto id = std::string{};
    // The saga's id is the one the held request carries: find its actor.
    caf::actor victim;
    self
      ->request(rt.journal(), std::chrono::seconds{5},
                saga::unfinished_atom::value, std::string{}, uint32_t{1})
      .receive(
        [&](saga::unfinished_page& p) {
          if (!p.ids.empty())
            id = p.ids.front();
        },
        [](caf::error&) {});
    self
      ->request(rt.coordinator(), std::chrono::seconds{5},
                saga::which_child_atom::value, id)
      .receive([&](const caf::actor& h) { victim = h; }, [](caf::error&) {});
    if (!victim) {
      std::fprintf(stderr, "no saga actor for %s\n", id.c_str());
      return 1;
    }
    auto t0 = clock::now();
    caf::anon_send(victim, saga::crash_atom::value);
    guard.lock();
    cv.wait(guard, [&] { return calls == 2 * n + 2; });
    total_us.push_back(
      std::chrono::duration<double, std::micro>(last_call - t0).count());
    guard.unlock();
    caf::anon_send(holder, release_atom::value);
    done.get_future().get();
  }
  std::sort(total_us.begin(), total_us.end());
  auto pct = [&](double p) {
    return total_us[std::min(total_us.size() - 1,
                             static_cast<size_t>(
                               p * static_cast<double>(total_us.size())))];
  };
  std::printf("journal    %s, %d crashes of a saga actor waiting in a step\n",
              journal.c_str(), crashes);
  std::printf("crash -> in-flight step re-sent: p50 %.0f us, p99 %.0f us\n",
              pct(0.5), pct(0.99));
  std::printf("without the 10 ms restart backoff: p50 %.0f us, p99 %.0f us\n",
              pct(0.5) - 10'000, pct(0.99) - 10'000);
  caf::anon_send_exit(holder, caf::exit_reason::user_shutdown);
  return 0;
}
