# Whole-program tests of ibq-prepare-data: a real image folder made at test time -> HDF5 image shards.
if(NOT TARGET ibq-prepare-data)
  return()
endif()
add_executable(make_image_folder ${CMAKE_CURRENT_SOURCE_DIR}/drivers/make_image_folder.cpp)
target_link_libraries(make_image_folder PRIVATE ibq::ibq ibq_warnings)

add_test(NAME "drivers: prepare-data turns an image folder into shards, skipping unreadable files by name"
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/drivers/prepare_data.sh $<TARGET_FILE:ibq-prepare-data>
                 $<TARGET_FILE:make_image_folder> ${CMAKE_BINARY_DIR}/driver-tests/prepare-data)
set_tests_properties("drivers: prepare-data turns an image folder into shards, skipping unreadable files by name"
                     PROPERTIES LABELS integration TIMEOUT 300)
