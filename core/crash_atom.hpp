#pragma once

#include <caf/atom.hpp>

/// The fault-injection message of tests and chaos runs, not part of the
/// public API: an actor that reacts to it throws, so its supervisor restarts
/// it (saga actors, participants, the Redis journal's writers). The typed
/// interfaces that accept it are private to the build (actors/,
/// persistence/); the atom text stays distinct from saga/atoms.hpp's.
namespace saga {

using crash_atom = caf::atom_constant<caf::atom("sg_crash")>;

} // namespace saga
