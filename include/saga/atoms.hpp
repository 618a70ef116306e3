#pragma once

#include <caf/atom.hpp>

/// Message tags of caf-saga's public actor interfaces (participant,
/// coordinator, gateway, supervisor). Atom texts
/// are at most ten characters; keep them distinct (CAF maps unknown
/// characters to spaces). The journal's atoms are in saga/journal/atoms.hpp,
/// the engine's own (saga actors, local participants) in
/// actors/engine_atoms.hpp, fault injection's in core/crash_atom.hpp; their
/// texts must stay distinct from these too.
namespace saga {

// -- participants -------------------------------------------------------------
using execute_atom = caf::atom_constant<caf::atom("sg_execute")>;
using compensate_atom = caf::atom_constant<caf::atom("sg_compens")>;

// -- coordinator --------------------------------------------------------------
using run_atom = caf::atom_constant<caf::atom("sg_run")>;
using resume_atom = caf::atom_constant<caf::atom("sg_resume")>;
using recover_atom = caf::atom_constant<caf::atom("sg_recover")>;
using register_atom = caf::atom_constant<caf::atom("sg_reg")>;
using lookup_atom = caf::atom_constant<caf::atom("sg_lookup")>;
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

} // namespace saga
