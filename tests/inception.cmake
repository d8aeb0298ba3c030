# pytorch-fid's FID Inception (include/ibq/metrics/inception.hpp) against PyTorch on its full-size network:
# the reference writes random weights (95 MB, not committed) and the expected features into the build folder,
# then check_inception compares. About 30 s on 2 cores; skipped where PyTorch is missing.
add_executable(check_inception ${CMAKE_CURRENT_SOURCE_DIR}/drivers/check_inception.cpp)
target_link_libraries(check_inception PRIVATE ibq::ibq ibq_warnings)
set(_inception_test "inception: FID Inception pool3 features and logits match pytorch-fid's network in PyTorch within 1e-4")
add_test(NAME "${_inception_test}"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/drivers/inception_parity.sh $<TARGET_FILE:check_inception>
                 ${CMAKE_BINARY_DIR}/inception-test ${CMAKE_SOURCE_DIR})
set_tests_properties("${_inception_test}"
  PROPERTIES LABELS integration TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT "OMP_PROC_BIND=false;OMP_NUM_THREADS=2")
