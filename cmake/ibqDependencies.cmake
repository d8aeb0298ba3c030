# Finds ibq's dependencies and defines the imported targets the library links to. Included both by the
# build (CMakeLists.txt) and by installed consumers (ibqConfig.cmake), so both resolve them the same way.
include(CMakeFindDependencyMacro)

# Kokkos: the caller's (-DKokkos_ROOT=..., a module or Spack), ours from hpc/setup.sh, or Debian's Serial one.
find_dependency(Kokkos)
if(Kokkos_INCLUDE_DIRS MATCHES "/trilinos")
  # Debian's Trilinos-built Kokkos 3.4 (libtrilinos-kokkos-dev): its Kokkos::kokkos points at a wrong include
  # folder (/usr/lib/include) and links bare target names it never defines, so build the target from the
  # variables the same config file sets correctly.
  if(NOT TARGET ibq_debian_kokkos)
    set(_ibq_kokkos_libs)
    foreach(_lib IN LISTS Kokkos_LIBRARIES)
      find_library(IBQ_DEBIAN_${_lib} NAMES ${_lib} PATHS ${Kokkos_LIBRARY_DIRS} NO_DEFAULT_PATH REQUIRED)
      list(APPEND _ibq_kokkos_libs ${IBQ_DEBIAN_${_lib}})
    endforeach()
    add_library(ibq_debian_kokkos INTERFACE IMPORTED)
    set_target_properties(ibq_debian_kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${Kokkos_INCLUDE_DIRS}"
      INTERFACE_LINK_LIBRARIES "${_ibq_kokkos_libs};${Kokkos_TPL_LIBRARIES}")
  endif()
  set(IBQ_KOKKOS_TARGET ibq_debian_kokkos)
else()
  set(IBQ_KOKKOS_TARGET Kokkos::kokkos)
endif()

find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(ZLIB)
# Image files: ibq/io/png.hpp (libpng) and ibq/io/jpeg.hpp (libjpeg or libjpeg-turbo).
find_dependency(PNG)
find_dependency(JPEG)
find_dependency(HDF5 COMPONENTS C)
# MPI (ibq/dist): the C API only, so any MPI works and no C++ bindings are needed.
find_dependency(MPI COMPONENTS C)

# OpenBLAS: prefer the OpenMP build, which shares Kokkos's OpenMP thread pool instead of oversubscribing
# the cores with its own pthreads. IBQ_BLAS=Eigen (or no OpenBLAS found) uses Eigen's GEMM instead.
set(IBQ_BLAS "OpenBLAS" CACHE STRING "Host GEMM backend: OpenBLAS or Eigen")
set(IBQ_CBLAS_LIBRARY "")
if(IBQ_BLAS STREQUAL "OpenBLAS")
  find_library(IBQ_OPENBLAS_LIB NAMES openblas
               PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
               NO_DEFAULT_PATH)
  find_library(IBQ_OPENBLAS_LIB NAMES openblas)
  find_path(IBQ_CBLAS_INCLUDE NAMES cblas.h
            PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
            NO_DEFAULT_PATH)
  find_path(IBQ_CBLAS_INCLUDE NAMES cblas.h PATH_SUFFIXES openblas)
  if(IBQ_OPENBLAS_LIB AND IBQ_CBLAS_INCLUDE)
    set(IBQ_CBLAS_LIBRARY "${IBQ_OPENBLAS_LIB}")
    # OpenBLAS normally bundles LAPACK: the FID's 2048x2048 eigen-decompositions then run in its threaded
    # dsyevd (about 10x Eigen's single-threaded solver). Checked by linking, since builds without it exist.
    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_LIBRARIES "${IBQ_OPENBLAS_LIB}")
    check_cxx_source_compiles("extern \"C\" void dsyevd_(); int main() { dsyevd_(); return 0; }" IBQ_OPENBLAS_HAS_LAPACK)
    unset(CMAKE_REQUIRED_LIBRARIES)
  else()
    message(WARNING "ibq: OpenBLAS not found (install libopenblas-openmp-dev); host GEMM falls back to Eigen")
  endif()
endif()
if(NOT TARGET ibq_host_blas)
  add_library(ibq_host_blas INTERFACE IMPORTED)
  if(IBQ_CBLAS_LIBRARY)
    set_target_properties(ibq_host_blas PROPERTIES INTERFACE_LINK_LIBRARIES "${IBQ_CBLAS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${IBQ_CBLAS_INCLUDE}"
      INTERFACE_COMPILE_DEFINITIONS "IBQ_HAVE_CBLAS$<$<BOOL:${IBQ_OPENBLAS_HAS_LAPACK}>:;IBQ_HAVE_LAPACK>")
  endif()
endif()

# oneDNN (Debian libdnnl-dev, the library PyTorch's CPU convolutions use): host float conv2d runs its JIT
# kernels in blocked layouts, ~3x the im2col + GEMM rate at 32-64 channels. Not on CUDA builds (device
# convolutions keep im2col + cuBLAS). IBQ_CONV_HOST=im2col (or oneDNN not found) keeps im2col everywhere.
set(IBQ_CONV_HOST "oneDNN" CACHE STRING "Host float conv2d backend: oneDNN or im2col")
set(IBQ_DNNL_LIBRARY "")
if(IBQ_CONV_HOST STREQUAL "oneDNN" AND NOT Kokkos_DEVICES MATCHES "CUDA")
  find_library(IBQ_DNNL_LIB NAMES dnnl)
  find_path(IBQ_DNNL_INCLUDE NAMES oneapi/dnnl/dnnl.hpp)
  if(IBQ_DNNL_LIB AND IBQ_DNNL_INCLUDE)
    set(IBQ_DNNL_LIBRARY "${IBQ_DNNL_LIB}")
  else()
    message(WARNING "ibq: oneDNN not found (install libdnnl-dev); host convolutions use im2col + GEMM")
  endif()
endif()
if(NOT TARGET ibq_host_conv)
  add_library(ibq_host_conv INTERFACE IMPORTED)
  if(IBQ_DNNL_LIBRARY)
    set_target_properties(ibq_host_conv PROPERTIES INTERFACE_LINK_LIBRARIES "${IBQ_DNNL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${IBQ_DNNL_INCLUDE}" INTERFACE_COMPILE_DEFINITIONS IBQ_HAVE_DNNL)
  endif()
endif()

if(NOT TARGET ibq_hdf5)
  add_library(ibq_hdf5 INTERFACE IMPORTED)
  set_target_properties(ibq_hdf5 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${HDF5_C_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${HDF5_C_LIBRARIES}" INTERFACE_COMPILE_DEFINITIONS "${HDF5_C_DEFINITIONS}")
endif()

# cuBLAS when Kokkos was built with CUDA.
if(Kokkos_DEVICES MATCHES "CUDA" AND NOT TARGET ibq_cublas)
  find_dependency(CUDAToolkit)
  add_library(ibq_cublas INTERFACE IMPORTED)
  set_target_properties(ibq_cublas PROPERTIES INTERFACE_LINK_LIBRARIES CUDA::cublas)
endif()
