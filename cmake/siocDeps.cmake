# The library's dependencies as imported targets. Included by the build
# (CMakeLists.txt) and by the installed package (siocConfig.cmake), so that
# the exported targets name the same things in both places.
#
# Each dependency is found through pkg-config under a sioc_ prefix (the
# targets are PkgConfig::sioc_<name>) so that a program's own
# pkg_check_modules(UV ...) does not collide with ours.
#
# SIOC_PC_REQUIRES / SIOC_PC_REQUIRES_PRIVATE / SIOC_PC_LIBS_PRIVATE are
# what sioc.pc says; an optional dependency appends to them (see
# sioc_optional_dependency in CMakeLists.txt).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(sioc_uv REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(sioc_jansson REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(sioc_crypto REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(sioc_ssl REQUIRED IMPORTED_TARGET libssl) # https/wss
pkg_check_modules(sioc_zlib REQUIRED IMPORTED_TARGET zlib) # httpCompression
pkg_check_modules(sioc_msgpack REQUIRED IMPORTED_TARGET msgpack) # the msgpack parser
pkg_check_modules(sioc_xcrypt REQUIRED IMPORTED_TARGET libxcrypt) # admin UI: bcrypt
