#include "persistence/lua_scripts.hpp"

#include <cstdio>
#include <cstdlib>

namespace saga {

const std::string& lua_script(const char* file) {
  const auto& all = detail::lua_scripts();
  auto i = all.find(std::string{"/"} + file);
  if (i == all.end()) {
    std::fprintf(stderr, "caf-saga: no Lua script %s embedded\n", file);
    std::abort();
  }
  return i->second.second;
}

} // namespace saga
