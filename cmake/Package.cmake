# The Debian package of stampede (CPack DEB), built by `make package`.
#
# What it carries, as installed:
#   /usr/lib/stampede/{stampede,stampede-agent,stampede-lambda,bootstrap}
#       the shipped executables, side by side because `stampede demo` and
#       `stampede run --local-agents` start their siblings from the
#       directory of the running executable;
#   /usr/bin/{stampede,stampede-agent,stampede-lambda}
#       symlinks to them (bootstrap is a Lambda runtime, not a command);
#   /usr/lib/systemd/system/stampede-{agent,controller}.service
#       the daemons (deploy/systemd), enabled by nobody: an agent needs its
#       controller and certificate first;
#   /etc/stampede/{agent,controller}.conf
#       their settings (deploy/config), conffiles, controller.conf mode 0600
#       since it may hold the API token;
#   /usr/share/doc/stampede/deploy-daemons.md
#       how to run them.
# Dependencies are found by dpkg-shlibdeps from the executables.
#
# Included from the top-level CMakeLists.txt after every target exists.

set(STAMPEDE_PACKAGED_TARGETS stampede stampede-agent stampede-lambda bootstrap)
set(STAMPEDE_PACKAGED_COMMANDS stampede stampede-agent stampede-lambda)
foreach(_target IN LISTS STAMPEDE_PACKAGED_TARGETS)
  if(NOT TARGET ${_target})
    message(WARNING "${_target} is not built here: the Debian package will lack it")
  endif()
endforeach()

install(TARGETS ${STAMPEDE_PACKAGED_TARGETS} RUNTIME DESTINATION lib/stampede)

set(_links ${CMAKE_BINARY_DIR}/package-links)
file(MAKE_DIRECTORY ${_links})
foreach(_command IN LISTS STAMPEDE_PACKAGED_COMMANDS)
  file(CREATE_LINK ../lib/stampede/${_command} ${_links}/${_command} SYMBOLIC)
  install(FILES ${_links}/${_command} DESTINATION bin)
endforeach()

install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/stampede-agent.service
              ${PROJECT_SOURCE_DIR}/deploy/systemd/stampede-controller.service
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/config/agent.conf DESTINATION /etc/stampede)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/config/controller.conf DESTINATION /etc/stampede
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${PROJECT_SOURCE_DIR}/docs/deploy-daemons.md DESTINATION share/doc/stampede)

# Maintainer scripts: systemd rereads unit files on install, upgrade and
# removal; nothing is enabled or started (see docs/deploy-daemons.md).
set(_control ${CMAKE_BINARY_DIR}/package-control)
file(MAKE_DIRECTORY ${_control})
file(WRITE ${_control}/conffiles "/etc/stampede/agent.conf\n/etc/stampede/controller.conf\n")
foreach(_script postinst postrm)
  file(WRITE ${_control}/${_script} [=[
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
]=])
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stampede)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR stampede)
set(CPACK_PACKAGE_CONTACT "stampede developers <stampede@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "distributed burst tester for AWS Lambda concurrency (controller, agent, emulator)")
set(CPACK_PACKAGE_DESCRIPTION
    "stampede fires N simultaneous requests at a function from agents on many hosts and records what each got (success, throttle, cold start, execution environment). This package carries the controller (stampede), the load agent (stampede-agent), the local Lambda emulator (stampede-lambda) with its demo function, and systemd units for the agent and the controller.")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
# /etc/stampede is an absolute destination: stage it under the package
# root, never on the building machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS ca-certificates)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${_control}/conffiles ${_control}/postinst
                                       ${_control}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
