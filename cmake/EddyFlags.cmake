# Internal interface targets, linked PRIVATE to eddy's own targets (libraries, tests,
# benchmarks) so that eddy's code itself is built with the warnings and instrumented by the
# sanitizers. They are not exported.

add_library(eddy_warnings INTERFACE)
target_compile_options(eddy_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference -Wimplicit-fallthrough
  $<$<BOOL:${EDDY_WERROR}>:-Werror>
  # g++ 12 reports false overlaps in std::string's inlined memcpy at -O2/-O3 (GCC PR 105651)
  # for plain concatenations: -Wrestrict finds nothing real here, only that.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)

add_library(eddy_sanitizers INTERFACE)
if(NOT EDDY_SANITIZE STREQUAL "")
  # Recycled blocks would hide use-after-free from the sanitizers: use the global allocator.
  target_compile_definitions(eddy_sanitizers INTERFACE EDDY_NO_POOL)
endif()
if(EDDY_SANITIZE STREQUAL "address")
  target_compile_options(eddy_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(eddy_sanitizers INTERFACE -fsanitize=address,undefined)
elseif(EDDY_SANITIZE STREQUAL "thread")
  target_compile_options(eddy_sanitizers INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(eddy_sanitizers INTERFACE -fsanitize=thread)
elseif(NOT EDDY_SANITIZE STREQUAL "")
  message(FATAL_ERROR "EDDY_SANITIZE must be '', 'address' or 'thread' (got '${EDDY_SANITIZE}')")
endif()

add_library(eddy_internal INTERFACE)
target_link_libraries(eddy_internal INTERFACE eddy_warnings eddy_sanitizers)

# Each library target: sources, public headers under <dir>/include, exported as eddy::<name>.
function(eddy_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(eddy_${name} ${ARG_SOURCES})
  add_library(eddy::${name} ALIAS eddy_${name})
  set_target_properties(eddy_${name} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(eddy_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(eddy_${name} PUBLIC ${ARG_DEPENDS} PRIVATE $<BUILD_INTERFACE:eddy_internal>)
endfunction()
