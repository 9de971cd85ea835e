# Man pages (section 1) of the three binaries, written by help2man from their own --help and
# --version once they are built (help2man.sh; packaging/man/<binary>.h2m adds what --help does
# not say), gzipped into packaging/man/ of the build folder and installed to share/man/man1 in
# their binary's component. Without help2man the build goes on without them (the package test
# then fails on the missing pages; scripts/install-deps.sh installs help2man).
# Sanitizer and fuzz builds are never packaged: they run no binary at build time.
if((VPBX_SANITIZE AND NOT VPBX_SANITIZE STREQUAL "OFF") OR VPBX_FUZZ)
  return()
endif()
find_program(VPBX_HELP2MAN help2man)
if(NOT VPBX_HELP2MAN)
  message(STATUS "help2man not found: no man pages (scripts/install-deps.sh installs it)")
  return()
endif()

# Their date: SOURCE_DATE_EPOCH's when set at configure time (reproducible builds), else the
# release date of the Debian changelog, as dpkg sets it.
if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(VPBX_MAN_EPOCH $ENV{SOURCE_DATE_EPOCH})
else()
  file(STRINGS ${VPBX_DEB_DIR}/debian/changelog.in vpbx_man_signoff REGEX "^ -- " LIMIT_COUNT 1)
  string(REGEX REPLACE "^ -- .*  " "" vpbx_man_release_date "${vpbx_man_signoff}")
  execute_process(COMMAND date -u -d "${vpbx_man_release_date}" +%s OUTPUT_VARIABLE VPBX_MAN_EPOCH
                  OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
endif()

# vpbx_man_page(BINARY COMPONENT [NAME text] [VERSION string]): NAME when --help has no NAME
# paragraph, VERSION when the binary has no --version.
function(vpbx_man_page binary component)
  if(NOT TARGET ${binary})
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "NAME;VERSION" "")
  set(script ${VPBX_DEB_DIR}/man/help2man.sh)
  set(page ${PROJECT_BINARY_DIR}/packaging/man/${binary}.1.gz)
  set(options)
  if(arg_NAME)
    list(APPEND options "--name=${arg_NAME}")
  endif()
  if(arg_VERSION)
    list(APPEND options "--version=${arg_VERSION}")
  endif()
  set(include ${VPBX_DEB_DIR}/man/${binary}.h2m)
  if(EXISTS ${include})
    list(APPEND options "--include=${include}")
  else()
    set(include "")
  endif()
  add_custom_command(OUTPUT ${page}
    COMMAND ${CMAKE_COMMAND} -E env SOURCE_DATE_EPOCH=${VPBX_MAN_EPOCH} HELP2MAN=${VPBX_HELP2MAN}
            ${script} ${options} $<TARGET_FILE:${binary}> ${page}
    DEPENDS ${binary} ${script} ${include}
    COMMENT "Generating the man page of ${binary} (help2man)" VERBATIM)
  add_custom_target(${binary}_man ALL DEPENDS ${page})
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ${component})
endfunction()

vpbx_man_page(vpbx_exporter exporter NAME "Prometheus exporter for a C5 virtual PBX's OpenAPI")
vpbx_man_page(vpbxctl exporter)  # its --help has a NAME paragraph
vpbx_man_page(vpbx_simulator simulator
              NAME "stand-in for a C5 virtual PBX's OpenAPI, for labs and tests")
