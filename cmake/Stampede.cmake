# stampede_selftests(<name> <library> <module>...)
#
# Builds <name>, an executable that runs one module's selftest by name
# (`<name> <module> [-v]`, each module providing `void <module>_test(bool)`),
# and registers one ctest entry per module, labelled "unit".
function(stampede_selftests name library)
  set(modules ${ARGN})
  set(decls "")
  set(rows "")
  foreach(m IN LISTS modules)
    string(APPEND decls "void ${m}_test(bool verbose);\n")
    string(APPEND rows "    {\"${m}\", ${m}_test},\n")
  endforeach()
  set(src ${CMAKE_CURRENT_BINARY_DIR}/${name}_main.c)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/selftest_main.c.in ${src} @ONLY)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE ${library})
  foreach(m IN LISTS modules)
    add_test(NAME ${m} COMMAND ${name} ${m})
    set_tests_properties(${m} PROPERTIES LABELS unit TIMEOUT 120)
  endforeach()
endfunction()

# stampede_embed(<output.c> <symbol> <file>)
#
# Turns <file> into a C source defining `const unsigned char <symbol>[]` and
# `const size_t <symbol>_size`, regenerated whenever <file> changes.
function(stampede_embed out symbol file)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding ${file}")
endfunction()
