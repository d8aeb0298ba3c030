# SEED-Voken checkpoints in and out (hpc/import_seed_voken.py) on reference-structured models with random
# weights made by PyTorch at test time (tests/reference/seed_voken_reference.py): the full-structure files
# are megabytes (GroupNorm's 32 groups set a floor on the widths), too big to commit, and the strict-load
# check of the exported files needs PyTorch anyway.
if(NOT TARGET ibq-sample)
  return()
endif()
add_executable(check_imported ${CMAKE_CURRENT_SOURCE_DIR}/drivers/check_imported.cpp)
target_include_directories(check_imported PRIVATE ${PROJECT_SOURCE_DIR}/drivers)
find_package(Boost 1.71 REQUIRED COMPONENTS program_options)
target_link_libraries(check_imported PRIVATE ibq::ibq ibq_warnings Boost::program_options)
set(_run ${CMAKE_CURRENT_SOURCE_DIR}/drivers)
set(_scratch ${CMAKE_BINARY_DIR}/driver-tests)
set(_name "drivers: SEED-Voken checkpoints import to PyTorch's outputs (1e-4, greedy tokens), export strictly, round-trip bitwise")
add_test(NAME "${_name}"
         COMMAND bash ${_run}/seed_voken.sh $<TARGET_FILE:check_imported> $<TARGET_FILE:ibq-sample>
                 ${_scratch}/seed-voken ${CMAKE_SOURCE_DIR})
set_tests_properties("${_name}" PROPERTIES LABELS integration TIMEOUT 600)
set(_full "drivers: a full-size SEED-Voken tokenizer (K = 16384, 111 M parameters) imports streamed, every tensor checked")
add_test(NAME "${_full}" COMMAND bash ${_run}/seed_voken_full.sh $<TARGET_FILE:check_imported> ${_scratch}/seed-voken-full
                                 ${CMAKE_SOURCE_DIR})
set_tests_properties("${_full}" PROPERTIES LABELS integration TIMEOUT 600)
