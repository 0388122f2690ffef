# Build helpers shared by every folder.
#
# tandem_library(NAME DEPS ...): one static library per src/ folder, built from
#   every *.cc in the folder except *_test.cc, *_fuzz.cc and *_bench.cc.
#   DEPS are the libraries it may use (dependencies point one way, DESIGN.md §3).
# tandem_test(NAME LABEL SOURCES ... DEPS ...): a GoogleTest binary whose tests
#   are registered one by one with ctest under LABEL (unit, sim, integration,
#   cluster).
# tandem_fuzz(NAME SOURCES ... DEPS ...): a fuzz target defining
#   LLVMFuzzerTestOneInput. With TANDEM_LIBFUZZER it links libFuzzer; otherwise
#   it links a small standalone driver that replays mutated seeds for a fixed
#   number of iterations, and registers that run with ctest under label fuzz.

include(GoogleTest)

# -Wno-maybe-uninitialized, -Wno-restrict: GCC 12 false positives (std::variant
# moves; std::string concatenation at -O3); -Wno-mismatched-new-delete: GCC 12
# false positive on every Boost.Asio coroutine frame.
set(TANDEM_WARNINGS -Wall -Wextra -Wshadow=local -Wnon-virtual-dtor -Wno-maybe-uninitialized
    -Wno-restrict -Wno-mismatched-new-delete)
if(TANDEM_WERROR)
  list(APPEND TANDEM_WARNINGS -Werror)
endif()

if(TANDEM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(tandem_library NAME)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB _all CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  set(_srcs)
  foreach(f ${_all})
    if(NOT f MATCHES "_(test|fuzz|bench)\\.cc$")
      list(APPEND _srcs ${f})
    endif()
  endforeach()
  add_library(${NAME} STATIC ${_srcs})
  target_include_directories(${NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${NAME} PRIVATE ${TANDEM_WARNINGS})
  target_link_libraries(${NAME} PUBLIC ${ARG_DEPS})
endfunction()

function(tandem_test NAME)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;DEPS" ${ARGN})
  add_executable(${NAME} ${ARG_SOURCES})
  target_compile_options(${NAME} PRIVATE ${TANDEM_WARNINGS})
  target_link_libraries(${NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${NAME} PROPERTIES LABELS ${ARG_LABEL} DISCOVERY_TIMEOUT 60)
endfunction()

# Every *_test.cc of the current folder becomes one test binary.
function(tandem_folder_tests PREFIX LABEL)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB _tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(_tests)
    tandem_test(${PREFIX}_tests LABEL ${LABEL} SOURCES ${_tests} DEPS ${ARG_DEPS})
  endif()
endfunction()

function(tandem_fuzz NAME)
  cmake_parse_arguments(ARG "" "ITERATIONS" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_ITERATIONS)
    set(ARG_ITERATIONS 200000)
  endif()
  add_executable(${NAME} ${ARG_SOURCES})
  target_compile_options(${NAME} PRIVATE ${TANDEM_WARNINGS})
  if(TANDEM_LIBFUZZER)
    target_compile_options(${NAME} PRIVATE -fsanitize=fuzzer)
    target_link_options(${NAME} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${NAME} PRIVATE ${ARG_DEPS})
  else()
    target_link_libraries(${NAME} PRIVATE ${ARG_DEPS} tandem_fuzz_driver)
    add_test(NAME fuzz.${NAME} COMMAND ${NAME} --iterations=${ARG_ITERATIONS})
    set_tests_properties(fuzz.${NAME} PROPERTIES LABELS fuzz TIMEOUT 300)
  endif()
endfunction()

# Every *_test.sh of the calling folder as the test NAME_PREFIX.<name> (file
# name without _test.sh) with LABEL. Each script gets ENV and its own PORT,
# BASE + i * STEP, so that ctest may run them in parallel.
function(tandem_script_tests NAME_PREFIX LABEL)
  cmake_parse_arguments(T "" "BASE;STEP" "ENV" ${ARGN})
  set(port ${T_BASE})
  file(GLOB scripts CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.sh)
  foreach(t ${scripts})
    get_filename_component(n ${t} NAME_WE)
    string(REGEX REPLACE "_test$" "" n ${n})
    add_test(NAME ${NAME_PREFIX}.${n} COMMAND bash ${t})
    set_tests_properties(${NAME_PREFIX}.${n} PROPERTIES LABELS ${LABEL} TIMEOUT 600
      ENVIRONMENT "${T_ENV};PORT=${port}")
    math(EXPR port "${port} + ${T_STEP}")
  endforeach()
endfunction()
