# saga_embed_assets(OUT <generated .cpp> NAME <function> FILES <files...>)
#
# Generates, at build time, a C++ source defining
#   const std::map<std::string, std::pair<std::string, std::string>>& NAME();
# that maps "/<file name>" to (content type, file bytes) for every file in
# FILES. NAME may be qualified (saga::detail::dashboard_assets): the function
# is then defined in that namespace, which must declare it in a header. The
# file is regenerated whenever one of FILES (or the generator) changes; add
# OUT to a target's sources. Content types follow the file extension (html,
# js, css, svg, png, json, ico, txt; anything else application/octet-stream).
set(SAGA_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_assets.cmake)

function(saga_embed_assets)
  cmake_parse_arguments(arg "" "OUT;NAME" "FILES" ${ARGN})
  if(NOT arg_OUT OR NOT arg_NAME OR NOT arg_FILES)
    message(FATAL_ERROR "saga_embed_assets: OUT, NAME and FILES are required")
  endif()
  set(files)
  foreach(f IN LISTS arg_FILES)
    get_filename_component(abs ${f} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND files ${abs})
  endforeach()
  # add_custom_command splits arguments at ';': pass the list joined by '|'.
  string(REPLACE ";" "|" joined "${files}")
  get_filename_component(out_dir ${arg_OUT} DIRECTORY)
  add_custom_command(
    OUTPUT ${arg_OUT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CMAKE_COMMAND} -DOUT=${arg_OUT} -DNAME=${arg_NAME}
            -DFILES=${joined} -P ${SAGA_EMBED_SCRIPT}
    DEPENDS ${files} ${SAGA_EMBED_SCRIPT}
    COMMENT "Embedding ${arg_NAME} (${arg_OUT})"
    VERBATIM)
endfunction()
