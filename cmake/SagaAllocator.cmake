# saga_use_fast_malloc(<target>)
#
# Links jemalloc (Debian: libjemalloc-dev) into a program: CAF's worker
# threads allocate and free every message on different threads, and glibc's
# malloc spends a quarter of the CPU of a saga in its arena locks there
# (perf; saga_bench on the memory journal: 53 -> 40 us of CPU per 3-step
# saga). Only programs get it, never the library: which allocator a process
# uses is its owner's choice. Not with the sanitizers, which bring their own.
find_library(SAGA_JEMALLOC_LIBRARY NAMES jemalloc)

function(saga_use_fast_malloc target)
  if(SAGA_JEMALLOC_LIBRARY AND NOT SAGA_SANITIZE)
    target_link_libraries(${target} PRIVATE ${SAGA_JEMALLOC_LIBRARY})
  endif()
endfunction()
