#pragma once

#include <caf/atom.hpp>

/// Message tags the engine sends only to its own actors (saga actors, the
/// coordinator, local participants): no public interface carries them.
/// Texts stay distinct from those in saga/atoms.hpp and
/// saga/journal/atoms.hpp.
namespace saga {

/// A saga actor tells its coordinator that it ended.
using done_atom = caf::atom_constant<caf::atom("sg_done")>;
/// A saga actor tells its coordinator that it parked.
using park_atom = caf::atom_constant<caf::atom("sg_park")>;
/// A handler's outcome handed back to its participant (async and blocking
/// handlers).
using deliver_atom = caf::atom_constant<caf::atom("sg_deliver")>;

} // namespace saga
