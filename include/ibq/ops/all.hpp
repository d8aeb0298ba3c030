// ibq/ops/all.hpp — every differentiable op family, for code that wants the whole DSL.
//
//   #include "ibq/ops/all.hpp"
//   auto y = silu(group_norm(conv2d(x, w, b, ibq::Conv2dArgs::symmetric(1, 1)), 32, g, beta, 1e-6));
#pragma once

#include "ibq/ops/attention.hpp"
#include "ibq/ops/binary.hpp"
#include "ibq/ops/conv2d.hpp"
#include "ibq/ops/dropout.hpp"
#include "ibq/ops/embedding.hpp"
#include "ibq/ops/losses.hpp"
#include "ibq/ops/matmul.hpp"
#include "ibq/ops/norm.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/rope.hpp"
#include "ibq/ops/shape_ops.hpp"
#include "ibq/ops/softmax.hpp"
#include "ibq/ops/unary.hpp"
#include "ibq/ops/pool.hpp"
#include "ibq/ops/upsample.hpp"
