# SLURM: a real single-node cluster started by the test (tests/slurm/cluster.sh), which stops every
# daemon it started. Without SLURM installed the test reports itself skipped (exit 77), never passed.
if(NOT TARGET ibq-train-tokenizer)
  return()
endif()
add_test(NAME "slurm: a real cluster runs the tokenizer script on 2 tasks; a signalled job checkpoints, requeues and ends bitwise equal; a sweep runs as a job array"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/cluster.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/bin
                 ${CMAKE_BINARY_DIR}/slurm-test)
set_tests_properties("slurm: a real cluster runs the tokenizer script on 2 tasks; a signalled job checkpoints, requeues and ends bitwise equal; a sweep runs as a job array"
  PROPERTIES LABELS "integration;slurm" TIMEOUT 900 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
