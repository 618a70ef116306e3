#pragma once

// HTTP participants declared in a JSON file (saga_node
// --http-participants-file; docs/http-participants.md "Declaring them in a
// file"): one object per participant with the fields of
// `http_participant_config`. Pure functions, thread-safe.

#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "saga/http_participant.hpp"
#include "saga/json.hpp"

namespace saga::detail {

/// Named participant settings, in the file's order.
using http_participant_list
  = std::vector<std::pair<std::string, http_participant_config>>;

/// Bytes of a participants file at most.
constexpr size_t http_participants_file_bytes_max = 1 << 20;

/// Returns the participants `x` declares, each starting from `defaults`
/// (its fields override them), or an `errc::invalid_config` error naming
/// `source` (unless empty), the participant and the field that is unknown
/// or of the wrong type. Values themselves are checked when a participant
/// is declared.
caf::expected<http_participant_list>
http_participants_from_json(const json& x,
                            const http_participant_config& defaults,
                            const std::string& source = {});

/// Returns the participants declared in the JSON file at `path`, as
/// `http_participants_from_json` does, or an error naming the file and
/// what is wrong with it.
caf::expected<http_participant_list>
read_http_participants_file(const std::string& path,
                            const http_participant_config& defaults);

} // namespace saga::detail
