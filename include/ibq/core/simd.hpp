// ibq/core/simd.hpp — IBQ_SIMD_REDUCE(op, vars...): a host row loop whose reduction may run in vector lanes.
//
//   float s = 0;
//   IBQ_SIMD_REDUCE(+, s)
//   for (index_t k = 0; k < n; ++k) s += kmath::exp_nonpositive(row[k] - max);
//
// Without it the compiler keeps a float sum in source order, one element at a time, and the exponentials
// inside run scalar too. With it the sum is taken in lane-wise partial sums: a fixed order for a given
// build and CPU, so runs stay reproducible, but not the sequential order. Only OpenMP host builds.
#pragma once

#if defined(_OPENMP) && !defined(__CUDACC__)
#define IBQ_PRAGMA(x) _Pragma(#x)
#define IBQ_SIMD_REDUCE(op, ...) IBQ_PRAGMA(omp simd reduction(op : __VA_ARGS__))
#else
#define IBQ_SIMD_REDUCE(op, ...)
#endif
