# The repository stands alone: README.md's and docs/'s relative links resolve, and no tracked file names a
# path outside the repository (tests/docs/check_docs.py says what counts). Seconds; no build needed.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
  add_test(NAME "docs: relative links resolve and no file names a path outside the repository"
           COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_docs.py ${PROJECT_SOURCE_DIR})
  set_tests_properties("docs: relative links resolve and no file names a path outside the repository"
                       PROPERTIES TIMEOUT 60)
endif()
