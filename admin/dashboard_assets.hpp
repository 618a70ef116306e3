#pragma once

#include <map>
#include <string>
#include <utility>

namespace saga::detail {

/// Returns the dashboard's files (admin/web, embedded at build time by
/// cmake/SagaEmbed.cmake): "/index.html", "/saga.html", "/app.js" and
/// "/style.css", each mapped to (content type, bytes).
const std::map<std::string, std::pair<std::string, std::string>>&
dashboard_assets();

} // namespace saga::detail
