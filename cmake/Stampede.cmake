# stampede_selftests(<name> <library> <module>...)
#
# Builds <name>, an executable that runs one module's selftest by name
# (`<name> <module> [-v]`, each module providing `void <module>_test(bool)`),
# and registers one ctest entry per module, labelled "unit". The helpers
# the selftests talk to (tests/support, stampede_testsupport) are linked
# here and only here, never into a shipped binary.
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
  target_link_libraries(${name} PRIVATE ${library} stampede_testsupport)
  foreach(m IN LISTS modules)
    add_test(NAME ${m} COMMAND ${name} ${m})
    set_tests_properties(${m} PROPERTIES LABELS unit TIMEOUT 120)
  endforeach()
endfunction()

# stampede_selftest_headers(<library>)
#
# A product library whose module selftests call the test helpers compiles
# against their headers (tests/support) but never links them: the helpers
# come in through stampede_selftests(), and the shipped executables drop
# the selftests at link time (--gc-sections, see STAMPEDE_SHIPPED).
function(stampede_selftest_headers library)
  target_include_directories(${library} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
endfunction()

# stampede_embed(<output.c> <symbol> <file>)
#
# Turns <file> into a C source defining `const unsigned char <symbol>[]`
# (NUL-terminated, the NUL not counted) and a header beside it,
# <output>.h, declaring the array and `#define <SYMBOL>_SIZE`, the byte
# count as a constant expression, so tables of embedded files can be
# static const. Both are regenerated whenever <file> changes.
function(stampede_embed out symbol file)
  string(REGEX REPLACE "\\.c$" ".h" header ${out})
  add_custom_command(
    OUTPUT ${out} ${header}
    COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out} -DHEADER=${header} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${file} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding ${file}")
endfunction()

# stampede_fuzz_target(<name> <source> <library>...)
#
# A fuzz target defines LLVMFuzzerTestOneInput. Every build links it with
# tests/fuzz/replay_main.c and registers a ctest entry (label "fuzz") that
# replays the checked-in corpus tests/fuzz/corpus/<name>/, so the suite and
# its sanitizer build exercise each parser on known-nasty inputs. With
# -DSTAMPEDE_FUZZ=ON and clang, <name>_fuzz is also built against libFuzzer
# for coverage-guided runs (tests/fuzz/run.sh).
function(stampede_fuzz_target name source)
  set(libs ${ARGN})
  add_executable(${name}_replay ${source} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_link_libraries(${name}_replay PRIVATE ${libs} stampede_testsupport)
  add_test(NAME fuzz_${name}
           COMMAND ${name}_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 120)
  if(STAMPEDE_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    add_executable(${name}_fuzz ${source})
    target_compile_options(${name}_fuzz PRIVATE -fsanitize=fuzzer)
    target_link_options(${name}_fuzz PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name}_fuzz PRIVATE ${libs} stampede_testsupport)
  endif()
endfunction()
