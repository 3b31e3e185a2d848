# cmake -P script run by the consumer.find_package test (see CMakeLists.txt).
# Inputs: CAIRN_BUILD_DIR, CONSUMER_SOURCE_DIR, WORK_DIR, GENERATOR, CXX_COMPILER,
#         BUILD_TYPE, LINKER_FLAGS (may be empty).
cmake_minimum_required(VERSION 3.25)

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: ${name} failed (${rc})\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

run_step(install ${CMAKE_COMMAND} --install ${CAIRN_BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/include/cairn/store.h)
  message(FATAL_ERROR "consumer test: the install did not put cairn/store.h under ${prefix}/include")
endif()

run_step(configure ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
  "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
# It must have used the installed package, not something else on the machine.
file(STRINGS ${build}/CMakeCache.txt cairn_dir_line REGEX "^cairn_DIR:")
string(FIND "${cairn_dir_line}" "${prefix}/" at)
if(NOT at GREATER -1)
  message(FATAL_ERROR "consumer test: found cairn elsewhere: ${cairn_dir_line}")
endif()

run_step(build ${CMAKE_COMMAND} --build ${build})
run_step(run ${build}/cairn_consumer ${WORK_DIR}/consumer-store)
string(STRIP "${step_output}" output)
if(NOT output STREQUAL "1 order-42 0 order.placed.v1 {\"total\":42}\ncounter 2 at 1 from snapshot 1")
  message(FATAL_ERROR "consumer test: unexpected output: '${output}'")
endif()
message(STATUS "consumer test: ok (${output})")
