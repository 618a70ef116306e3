#pragma once

#include <caf/atom.hpp>

/// Message tags of the journal's interface (`journal_actor`): what a journal
/// implementation answers. Texts stay distinct from those in saga/atoms.hpp.
namespace saga {

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

} // namespace saga
