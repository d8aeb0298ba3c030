# hpc/setup.sh and hpc/build_cuda.sh for GPU nodes without network: bad options and missing or corrupt
# Kokkos sources are refused with a message naming the fix; --pack writes the tree to carry (seconds).
add_test(NAME "setup: offline GPU-node setup refuses bad input with the fix named; build_cuda.sh --pack writes the Kokkos tree"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/setup/offline.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/setup-test)
set_tests_properties("setup: offline GPU-node setup refuses bad input with the fix named; build_cuda.sh --pack writes the Kokkos tree"
  PROPERTIES LABELS "integration" TIMEOUT 120 PASS_REGULAR_EXPRESSION "all offline-setup checks passed")
