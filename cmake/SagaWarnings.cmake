# saga_enable_warnings(target): our own code builds clean with these.
function(saga_enable_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
endfunction()
