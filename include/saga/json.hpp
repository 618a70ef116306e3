#pragma once

#include <nlohmann/json.hpp>

namespace saga {

/// JSON value used for step payloads and results (nlohmann::json).
using json = nlohmann::json;

} // namespace saga
