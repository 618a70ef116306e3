// Speed-up of a 10-way fan-out over the same 10 steps run one after another.
// Each step takes 5 ms at its participant (a timer, like a remote service
// that answers after 5 ms; no thread is blocked).
//
//   fanout_speedup [--steps N] [--step-ms MS] [--runs R] [--journal URL]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "saga/saga.hpp"
#include "tools/args.hpp"

namespace {

/// The slow participant's timer: it answers itself after its delay.
using deliver_atom = caf::atom_constant<caf::atom("b_deliver")>;

using slow_participant
  = saga::participant_actor::extend<caf::reacts_to<deliver_atom, uint64_t>>;

struct slow_state {
  uint64_t next = 0;
  std::unordered_map<uint64_t, caf::typed_response_promise<saga::step_reply>>
    pending;
};

/// Answers every request `delay` after it arrived.
slow_participant::behavior_type
slow(slow_participant::stateful_pointer<slow_state> self,
     std::chrono::milliseconds delay) {
  auto answer_later = [self, delay] {
    auto rp = self->make_response_promise<saga::step_reply>();
    auto token = ++self->state.next;
    self->state.pending.emplace(token, rp);
    self->delayed_send(self, delay, deliver_atom::value, token);
    return rp;
  };
  return {
    [answer_later](saga::execute_atom, const saga::step_command&) {
      return answer_later();
    },
    [answer_later](saga::compensate_atom, const saga::step_command&) {
      return answer_later();
    },
    [self](deliver_atom, uint64_t token) {
      auto i = self->state.pending.find(token);
      saga::step_reply r;
      r.ok = true;
      i->second.deliver(std::move(r));
      self->state.pending.erase(i);
    },
  };
}

double median_ms(saga::runtime& rt, const saga::definition& d, int runs) {
  std::vector<double> xs;
  for (int i = 0; i < runs; ++i) {
    auto r = rt.execute(d).get();
    if (!r.success) {
      std::fprintf(stderr, "saga failed: %s\n",
                   saga::describe(r.error).c_str());
      std::exit(1);
    }
    xs.push_back(std::chrono::duration<double, std::milli>(r.duration).count());
  }
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  int steps = 10;
  int step_ms = 5;
  int runs = 21;
  std::string journal = "memory://";
  saga::tools::arg_parser args{
    "fanout_speedup",
    "fanout_speedup: the speed-up of a fan-out over the same steps run one\n"
    "after another."};
  args.integer("--steps", steps, "steps per saga", 1, 1000);
  args.integer("--step-ms", step_ms, "how long each step takes, in ms", 0,
               60'000);
  args.integer("--runs", runs, "runs of each shape (the median counts)", 1,
               100'000);
  args.text("--journal", journal, "the journal's URL").value_name("URL");
  args.parse_or_exit(argc, argv);
  saga::runtime_config cfg;
  cfg.journal_url = journal;
  cfg.journal.node_id = "fanout-bench";
  saga::runtime rt{cfg};
  if (auto err = rt.start_error()) {
    std::fprintf(stderr, "%s\n", saga::describe(err).c_str());
    return 1;
  }
  auto p = rt.system().spawn(slow, std::chrono::milliseconds{step_ms});
  rt.register_participant("slow", caf::actor_cast<saga::participant_actor>(p));
  saga::definition sequential{"sequential"};
  saga::definition fan_out{"fan-out"};
  fan_out.fork();
  for (int i = 0; i < steps; ++i) {
    auto name = "s" + std::to_string(i);
    sequential.step(name, "slow");
    fan_out.step(name, "slow");
  }
  fan_out.join();
  median_ms(rt, fan_out, 3); // warm-up
  auto seq = median_ms(rt, sequential, runs);
  auto par = median_ms(rt, fan_out, runs);
  std::printf("journal %s, %d steps of %d ms, median of %d runs\n",
              journal.c_str(), steps, step_ms, runs);
  std::printf("sequential %.1f ms, fan-out %.1f ms, speed-up %.1fx\n", seq, par,
              seq / par);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  return 0;
}
