# Whole-program tests of ibq-inspect on files written by the library's own writers (checkpoint, image
# shard, token dataset) and, where h5py is installed, by h5py (types our writers never produce); --plot
# draws checkpoints' metrics series with gnuplot (gnuplot-nox, a core dependency: the test fails without it).
if(NOT TARGET ibq-inspect)
  return()
endif()
add_executable(make_inspect_files ${CMAKE_CURRENT_SOURCE_DIR}/drivers/make_inspect_files.cpp)
target_link_libraries(make_inspect_files PRIVATE ibq::ibq ibq_warnings)

add_test(NAME "drivers: inspect prints tree, attributes, shapes, dtypes, statistics, config and tensors, and plots training curves"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/drivers/inspect.sh $<TARGET_FILE:ibq-inspect>
                 $<TARGET_FILE:make_inspect_files> ${CMAKE_BINARY_DIR}/driver-tests/inspect)
set_tests_properties("drivers: inspect prints tree, attributes, shapes, dtypes, statistics, config and tensors, and plots training curves"
  PROPERTIES LABELS integration TIMEOUT 300 ENVIRONMENT "OMP_PROC_BIND=false;OMP_NUM_THREADS=2")
