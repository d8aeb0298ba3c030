# MPI tests: one executable (tests/mpi/*.cpp, its own main), run under mpirun at 1, 2 and 4 ranks (4
# oversubscribed on small machines). run_mpi.sh checks that every rank reported in and passed.
file(GLOB _mpi_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_*.cpp)
if(NOT _mpi_sources)
  return()
endif()
add_executable(test_mpi ${CMAKE_CURRENT_SOURCE_DIR}/mpi/main.cpp ${_mpi_sources})
target_link_libraries(test_mpi PRIVATE ibq::ibq Catch2::Catch2 ibq_warnings)
target_include_directories(test_mpi PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
if(NOT IBQ_DISCOVER_TESTS)  # compile-only builds (CUDA without a GPU)
  return()
endif()
foreach(_n 1 2 4)
  add_test(NAME "mpi: data-parallel tokenizer training on ${_n} ranks"
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi/run_mpi.sh ${_n} $<TARGET_FILE:test_mpi>)
  set_tests_properties("mpi: data-parallel tokenizer training on ${_n} ranks" PROPERTIES LABELS mpi TIMEOUT 600
                       ENVIRONMENT "OMP_PROC_BIND=false")
endforeach()
