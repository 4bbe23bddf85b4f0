# cmake -DWEB_DIR=<web/> -DOUT=<dist/> -P bundle.cmake
#
# Runs web/build.mjs (esbuild from web/node_modules, installed by
# `make deps`) to bundle the dashboard into OUT, or stops with the fix when
# the modules are not installed.
if(NOT EXISTS ${WEB_DIR}/node_modules/esbuild/package.json
   OR NOT EXISTS ${WEB_DIR}/node_modules/chart.js/package.json)
  message(FATAL_ERROR
    "web: ${WEB_DIR}/node_modules is missing or incomplete; run `make deps` "
    "(it runs `npm ci` in web/) and build again")
endif()
find_program(_node node)
if(NOT _node)
  message(FATAL_ERROR "web: node is not installed; run `make deps`")
endif()
execute_process(COMMAND ${_node} ${WEB_DIR}/build.mjs ${OUT}
                WORKING_DIRECTORY ${WEB_DIR} RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "web: bundling the dashboard failed (web/build.mjs exit ${_rc})")
endif()
