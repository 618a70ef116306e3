#pragma once

#include <map>
#include <string>
#include <utility>

namespace saga::detail {

/// Returns every file of persistence/lua/, embedded at build time
/// (cmake/SagaEmbed.cmake): "/<file name>" to (content type, Lua source).
/// Immutable after its first call; thread-safe.
const std::map<std::string, std::pair<std::string, std::string>>& lua_scripts();

} // namespace saga::detail

namespace saga {

/// Returns the Lua source of persistence/lua/`file` (e.g. "append.lua").
/// Each file states its keys, arguments and replies at its top. Aborts if
/// no such file was embedded: a name here is a programming error.
const std::string& lua_script(const char* file);

} // namespace saga
