# Installs ibq into a scratch prefix and builds + runs tests/consumer against it with find_package(ibq).
set(_prefix ${CMAKE_BINARY_DIR}/install-test/prefix)
set(_consumer ${CMAKE_BINARY_DIR}/install-test/consumer)
add_test(NAME "install: find_package(ibq) from a consumer project"
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DBINARY_DIR=${PROJECT_BINARY_DIR}
          -DPREFIX=${_prefix} -DCONSUMER_BUILD=${_consumer} -DKOKKOS_ROOT=${Kokkos_ROOT}
          -DKOKKOS_DIR=${Kokkos_DIR} -DCXX=${CMAKE_CXX_COMPILER} -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run_install_test.cmake)
set_tests_properties("install: find_package(ibq) from a consumer project" PROPERTIES LABELS "integration"
  PASS_REGULAR_EXPRESSION "consumer: grad 2 4 6")
