#pragma once

#include <caf/atom.hpp>

/// Message tags of caf-saga's actor interfaces. Atom texts are at most ten
/// characters; keep them distinct (CAF maps unknown characters to spaces).
namespace saga {

// -- participants -------------------------------------------------------------
using execute_atom = caf::atom_constant<caf::atom("sg_execute")>;
using compensate_atom = caf::atom_constant<caf::atom("sg_compens")>;

// -- journals -----------------------------------------------------------------
using append_atom = caf::atom_constant<caf::atom("sg_append")>;
using read_atom = caf::atom_constant<caf::atom("sg_read")>;
using unfinished_atom = caf::atom_constant<caf::atom("sg_unfin")>;
using finish_atom = caf::atom_constant<caf::atom("sg_finish")>;
using recount_atom = caf::atom_constant<caf::atom("sg_recount")>;
using barrier_claim_atom = caf::atom_constant<caf::atom("sg_bclaim")>;
using barrier_done_atom = caf::atom_constant<caf::atom("sg_bdone")>;
using adopt_atom = caf::atom_constant<caf::atom("sg_adopt")>;
using reopen_atom = caf::atom_constant<caf::atom("sg_reopen")>;

// -- coordinator --------------------------------------------------------------
using run_atom = caf::atom_constant<caf::atom("sg_run")>;
using resume_atom = caf::atom_constant<caf::atom("sg_resume")>;
using recover_atom = caf::atom_constant<caf::atom("sg_recover")>;
using register_atom = caf::atom_constant<caf::atom("sg_reg")>;
using lookup_atom = caf::atom_constant<caf::atom("sg_lookup")>;
using done_atom = caf::atom_constant<caf::atom("sg_done")>;
using park_atom = caf::atom_constant<caf::atom("sg_park")>;
using retry_atom = caf::atom_constant<caf::atom("sg_retry")>;
using abort_atom = caf::atom_constant<caf::atom("sg_abort")>;

// -- nodes and their gateways -------------------------------------------------------
using info_atom = caf::atom_constant<caf::atom("sg_info")>;

// -- supervisors --------------------------------------------------------------
using start_child_atom = caf::atom_constant<caf::atom("sg_stchild")>;
using terminate_child_atom = caf::atom_constant<caf::atom("sg_tmchild")>;
using which_child_atom = caf::atom_constant<caf::atom("sg_which")>;
using count_children_atom = caf::atom_constant<caf::atom("sg_count")>;
using restart_atom = caf::atom_constant<caf::atom("sg_restart")>;
using stop_timer_atom = caf::atom_constant<caf::atom("sg_stoptmo")>;

// -- fault injection (tests, chaos runs) ------------------------------------------
using crash_atom = caf::atom_constant<caf::atom("sg_crash")>;

// -- internal timers and hand-offs -----------------------------------------------
using deliver_atom = caf::atom_constant<caf::atom("sg_deliver")>;

} // namespace saga
