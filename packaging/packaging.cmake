# The Debian packages, built by CPack (scripts/package.sh, or `cpack -G DEB` in a build folder):
#   prometheus-vpbx-exporter: vpbx_exporter (and vpbxctl), the example config as the conffile
#     /etc/vpbx_exporter/vpbx_exporter.yml, /etc/default/prometheus-vpbx-exporter, the systemd
#     unit, a system user, /var/lib/vpbx_exporter, the dashboards and alert rules, man pages.
#   vpbx-simulator: the API's stand-in, for labs and tests; never needed in production.
# Files with absolute destinations below exist only in the package (EXCLUDE_FROM_ALL keeps them
# out of a plain `cmake --install`, which puts the example config under its prefix instead).
set(VPBX_DEB_DIR ${CMAKE_CURRENT_LIST_DIR})

install(FILES deploy/vpbx_exporter.example.yml DESTINATION /etc/vpbx_exporter
        RENAME vpbx_exporter.yml COMPONENT exporter EXCLUDE_FROM_ALL)
install(FILES ${VPBX_DEB_DIR}/prometheus-vpbx-exporter.default DESTINATION /etc/default
        RENAME prometheus-vpbx-exporter COMPONENT exporter EXCLUDE_FROM_ALL)
install(FILES ${VPBX_DEB_DIR}/prometheus-vpbx-exporter.service DESTINATION /lib/systemd/system
        COMPONENT exporter EXCLUDE_FROM_ALL)
# Whoever builds the packages for a fleet puts their own name and mail here (lintian refuses
# the default's mail host).
set(VPBX_DEB_MAINTAINER "vpbx_exporter developers <vpbx-exporter@localhost>"
    CACHE STRING "Maintainer field of the Debian packages and their changelog")
# Debian wants the changelog of a native package gzipped, without a timestamp (-n).
set(VPBX_DEB_CHANGELOG ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
configure_file(${VPBX_DEB_DIR}/debian/changelog.in ${PROJECT_BINARY_DIR}/packaging/changelog @ONLY)
execute_process(COMMAND gzip -9nc ${PROJECT_BINARY_DIR}/packaging/changelog
                OUTPUT_FILE ${VPBX_DEB_CHANGELOG} COMMAND_ERROR_IS_FATAL ANY)
install(FILES README.md ${VPBX_DEB_DIR}/debian/copyright ${VPBX_DEB_CHANGELOG}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/prometheus-vpbx-exporter
        COMPONENT exporter EXCLUDE_FROM_ALL)
# The README links to docs/*.md: install them beside it, so that its links resolve.
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/prometheus-vpbx-exporter/docs
        COMPONENT exporter EXCLUDE_FROM_ALL FILES_MATCHING PATTERN "*.md")
install(FILES ${VPBX_DEB_DIR}/debian/copyright ${VPBX_DEB_CHANGELOG}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/vpbx-simulator COMPONENT simulator EXCLUDE_FROM_ALL)
# The man pages of the three binaries, from their --help (help2man, after the build).
include(${VPBX_DEB_DIR}/man/man.cmake)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME prometheus-vpbx-exporter)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${VPBX_DEB_MAINTAINER}")
# The first line of each description is the package's synopsis (so no
# CPACK_PACKAGE_DESCRIPTION_SUMMARY, which CPack would put before it).
set(CPACK_DEBIAN_EXPORTER_DESCRIPTION "Prometheus exporter for a C5 virtual PBX's OpenAPI
Polls per-user presence, call-forward and do-not-disturb states and call
detail records of a hosted virtual PBX (C5 platform), receives its push
notifications on a webhook, and exposes them as Prometheus metrics.
Ships Grafana dashboards and Prometheus alert rules.")
set(CPACK_DEBIAN_SIMULATOR_DESCRIPTION "Stand-in for a C5 virtual PBX's OpenAPI, for labs and tests
Serves the API's routes with simulated users, calls and feature changes,
pushes notifications to a webhook, and injects faults on request.
For trying vpbx_exporter and for its tests; not for production.")
# Absolute destinations (/etc, /lib/systemd) need DESTDIR staging; everything else goes to /usr.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL exporter simulator)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_EXPORTER_PACKAGE_NAME prometheus-vpbx-exporter)
set(CPACK_DEBIAN_EXPORTER_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_EXPORTER_PACKAGE_CONTROL_EXTRA
    ${VPBX_DEB_DIR}/debian/conffiles ${VPBX_DEB_DIR}/debian/postinst
    ${VPBX_DEB_DIR}/debian/prerm ${VPBX_DEB_DIR}/debian/postrm)
set(CPACK_DEBIAN_SIMULATOR_PACKAGE_NAME vpbx-simulator)
include(CPack)
