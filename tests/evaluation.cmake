# The evaluation suite (ibq-eval) and the ablation runner (experiments/ablations/), as whole programs on
# real Fashion-MNIST: real checkpoints, real .npz files, real sweeps.
if(NOT TARGET ibq-eval)
  return()
endif()
set(_run ${CMAKE_CURRENT_SOURCE_DIR}/drivers)
set(_scratch ${CMAKE_BINARY_DIR}/driver-tests)
add_test(NAME "drivers: ibq-eval scores tokenizers (rFD, PSNR, SSIM, LPIPS, utilisation) and samples (FD, IS, accuracy)"
         COMMAND bash ${_run}/eval.sh $<TARGET_FILE:ibq-eval> $<TARGET_FILE:ibq-train-tokenizer>
                 $<TARGET_FILE:ibq-train-classifier> $<TARGET_FILE:make_lpips_file> ${_scratch}/eval ${CMAKE_SOURCE_DIR})
add_test(NAME "drivers: ablation sweeps train, evaluate and tabulate with plots; reruns redo nothing; failures are named"
         COMMAND bash ${_run}/ablation.sh $<TARGET_FILE_DIR:ibq-eval> ${_scratch}/ablation ${CMAKE_SOURCE_DIR})
set_tests_properties(
  "drivers: ibq-eval scores tokenizers (rFD, PSNR, SSIM, LPIPS, utilisation) and samples (FD, IS, accuracy)"
  "drivers: ablation sweeps train, evaluate and tabulate with plots; reruns redo nothing; failures are named"
  PROPERTIES LABELS integration TIMEOUT 900)
# The standard scores (pytorch-fid's FID Inception, with random full-size weights made by PyTorch at test time).
set(_eval_inception "drivers: ibq-eval FID/IS/rFID with the FID Inception equal PyTorch + pytorch-fid's formulas, self-FID 0, npz statistics, 2 ranks")
add_test(NAME "${_eval_inception}"
         COMMAND bash ${_run}/eval_inception.sh $<TARGET_FILE:ibq-eval> $<TARGET_FILE:ibq-train-tokenizer>
                 $<TARGET_FILE:make_fmnist_shards> ${_scratch}/eval-inception ${CMAKE_SOURCE_DIR})
set_tests_properties("${_eval_inception}" PROPERTIES LABELS integration TIMEOUT 900)
