# Each benchmark answers --help with its own options (Kokkos's ScopeGuard used to answer with Kokkos's).
# Cheap: nothing is timed and Kokkos never starts. Only where the benchmarks are built (IBQ_BUILD_BENCH).
foreach(pair "ibq_quantizer;--block-rows" "tokenizer_step;--preset" "ar_step;--batch"
             "bench_gemm_conv;--filter" "bench_allreduce;--max-mib" "inception;--weights")
  list(GET pair 0 bench)
  list(GET pair 1 option)
  if(TARGET ${bench})
    add_test(NAME "bench: ${bench} --help prints its own options"
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/drivers/bench_help.sh $<TARGET_FILE:${bench}> ${option})
    set_tests_properties("bench: ${bench} --help prints its own options" PROPERTIES TIMEOUT 60)
  endif()
endforeach()
