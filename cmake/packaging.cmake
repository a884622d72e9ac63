# Installation and the .deb (CPack). Included last from the top-level CMakeLists.txt.
#
# Components:
#   runtime  /usr/bin/sluice, /usr/lib/sluice/plugins/*.so, /etc/sluice/sluice.yaml (a conffile),
#            the systemd unit, docs
#   sdk      the plugin SDK: /usr/include/sluice/*.h*, the CMake package SluiceSDK (its version
#            is the plugin ABI), the pkg-config file sluice-sdk.pc and the example plugins
# `cpack` (in the build directory) makes one .deb with both; `cmake --install BUILD --component
# sdk --prefix DIR` installs the SDK alone. Installing does not build: build `sluice` and the
# sink targets first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
include(CMakePackageConfigHelpers)

set(SLUICE_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)

# ---- runtime -------------------------------------------------------------------------------
if(TARGET sluice)
  install(TARGETS sluice RUNTIME DESTINATION bin COMPONENT runtime)
endif()
foreach(sink file blackhole s3 redshift http opensearch splunk kinesis firehose kafka)
  if(TARGET sluice_sink_${sink})
    # OPTIONAL: a build tree may hold only some sinks; the package test checks which are there.
    install(TARGETS sluice_sink_${sink} LIBRARY DESTINATION lib/sluice/plugins COMPONENT runtime
            OPTIONAL)
  endif()
endforeach()
install(FILES ${SLUICE_PACKAGING_DIR}/sluice.yaml DESTINATION /etc/sluice COMPONENT runtime
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${SLUICE_PACKAGING_DIR}/sluice.service DESTINATION lib/systemd/system
        COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/configuration.md
              ${PROJECT_SOURCE_DIR}/docs/plugins.md
        DESTINATION share/doc/sluice COMPONENT runtime OPTIONAL)

# ---- sdk -----------------------------------------------------------------------------------
file(STRINGS ${PROJECT_SOURCE_DIR}/plugins/sdk/sluice_plugin.h _abi_major
     REGEX "^#define SLUICE_ABI_MAJOR [0-9]+")
file(STRINGS ${PROJECT_SOURCE_DIR}/plugins/sdk/sluice_plugin.h _abi_minor
     REGEX "^#define SLUICE_ABI_MINOR [0-9]+")
string(REGEX REPLACE ".* " "" SLUICE_ABI_MAJOR "${_abi_major}")
string(REGEX REPLACE ".* " "" SLUICE_ABI_MINOR "${_abi_minor}")
# A new ABI version in the header reconfigures: the SDK's package version is read from it.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                                       ${PROJECT_SOURCE_DIR}/plugins/sdk/sluice_plugin.h)
configure_file(${SLUICE_PACKAGING_DIR}/sdk/SluiceSDKConfig.cmake.in
               ${CMAKE_BINARY_DIR}/sdk/SluiceSDKConfig.cmake @ONLY)
# The package version is the plugin ABI (see SluiceSDKConfigVersion.cmake.in).
configure_file(${SLUICE_PACKAGING_DIR}/sdk/SluiceSDKConfigVersion.cmake.in
               ${CMAKE_BINARY_DIR}/sdk/SluiceSDKConfigVersion.cmake @ONLY)
configure_file(${SLUICE_PACKAGING_DIR}/sdk/sluice-sdk.pc.in ${CMAKE_BINARY_DIR}/sdk/sluice-sdk.pc
               @ONLY)
install(FILES ${PROJECT_SOURCE_DIR}/plugins/sdk/sluice_plugin.h
              ${PROJECT_SOURCE_DIR}/plugins/sdk/sluice_plugin_util.h
              ${PROJECT_SOURCE_DIR}/plugins/sdk/sluice_sink.hpp
        DESTINATION include/sluice COMPONENT sdk)
install(FILES ${CMAKE_BINARY_DIR}/sdk/SluiceSDKConfig.cmake
              ${CMAKE_BINARY_DIR}/sdk/SluiceSDKConfigVersion.cmake
        DESTINATION lib/cmake/SluiceSDK COMPONENT sdk)
install(FILES ${CMAKE_BINARY_DIR}/sdk/sluice-sdk.pc DESTINATION lib/pkgconfig COMPONENT sdk)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/plugins/examples/ DESTINATION share/doc/sluice/examples
        COMPONENT sdk OPTIONAL PATTERN "build" EXCLUDE)

# ---- the .deb ------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_CONTACT "sluice maintainers <sluice@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "log shipper with an embedded Kinesis-like broker and Firehose-like delivery")
set(CPACK_PACKAGE_DESCRIPTION
    "sluice tails log files into an embedded, durable, Kinesis-compatible broker and delivers\n\
them through Firehose-style delivery streams to sink plugins (file, S3, HTTP, OpenSearch,\n\
Splunk, Redshift, or your own). Includes the plugin SDK.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SLUICE_PACKAGING_DIR}/deb/conffiles ${SLUICE_PACKAGING_DIR}/deb/postinst
    ${SLUICE_PACKAGING_DIR}/deb/prerm ${SLUICE_PACKAGING_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# /etc is not under the /usr prefix: let the DEB generator place absolute destinations.
set(CPACK_WARN_ON_ABSOLUTE_INSTALL_DESTINATION OFF)
include(CPack)
