# Whole-program tests of the drivers: real processes, real data, real HDF5 files.
if(NOT TARGET ibq-train-classifier)
  return()
endif()
set(_cls $<TARGET_FILE:ibq-train-classifier>)
set(_run ${CMAKE_CURRENT_SOURCE_DIR}/drivers)
set(_scratch ${CMAKE_BINARY_DIR}/driver-tests)

add_test(NAME "drivers: classifier --help lists every option with its default"
         COMMAND ${_cls} --help)
set_tests_properties("drivers: classifier --help lists every option with its default" PROPERTIES
  LABELS integration PASS_REGULAR_EXPRESSION "--train.epochs arg \\(=2\\).*--output.path")

add_test(NAME "drivers: classifier rejects bad input with one error line and a non-zero exit"
         COMMAND bash ${_run}/classifier_errors.sh ${_cls} ${_scratch}/errors)
add_test(NAME "drivers: classifier trains on real Fashion-MNIST and writes a checkpoint"
         COMMAND bash ${_run}/classifier_smoke.sh ${_cls} ${_scratch}/smoke ${CMAKE_SOURCE_DIR})
# The issue's acceptance target: >= 88% test accuracy with the shipped config (about 3 minutes on 2 cores).
add_test(NAME "drivers: classifier reaches 88% test accuracy with experiments/fashion_mnist_classifier.ini"
         COMMAND bash ${_run}/classifier_accuracy.sh ${_cls} ${_scratch}/accuracy ${CMAKE_SOURCE_DIR} 0.88)
set_tests_properties(
  "drivers: classifier rejects bad input with one error line and a non-zero exit"
  "drivers: classifier trains on real Fashion-MNIST and writes a checkpoint"
  "drivers: classifier reaches 88% test accuracy with experiments/fashion_mnist_classifier.ini"
  PROPERTIES LABELS integration TIMEOUT 900)
# A full training run uses both cores; beside another heavy test it can run out of its time.
set_tests_properties("drivers: classifier reaches 88% test accuracy with experiments/fashion_mnist_classifier.ini"
  PROPERTIES RUN_SERIAL TRUE)
