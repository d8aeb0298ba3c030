// ibq/ops/norm.hpp — normalisation layers: group_norm, layer_norm, rms_norm, batch_norm.
//
//   auto h = group_norm(x, 32, gamma, beta, 1e-6);          // x [N, C, H, W], gamma/beta [C] (taming)
//   auto z = layer_norm(t, gamma, beta, 1e-5);               // over the last axis of t [..., D]
//   auto r = rms_norm(t, weight, 1e-6);                      // Llama: t * rsqrt(mean(t^2) + eps) * weight
//   auto b = batch_norm(x, gamma, beta, running_mean, running_var, /*training=*/true);
//
// As in llm.c the forward pass saves the per-row mean and reciprocal standard deviation (rstd), and the
// backward pass is the closed form dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), so a
// norm costs two kernels each way instead of a chain of small ops that would each keep an intermediate.
// group/layer/rms norm share one kernel pair: each normalises contiguous rows, and element j of row r
// uses affine channel (r % groups) * channels_per_group + j / inner. Statistics are computed in T.
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include "ibq/core/simd.hpp"
#include <string>

#include "ibq/autodiff/tape.hpp"

namespace ibq {

// What a norm's forward kernel produces: the output and the statistics backward needs.
// rms_norm leaves `mean` undefined; batch_norm's statistics are per channel, the others' per row.
template <class T, class Space>
struct NormResult {
  Tensor<T, Space> y;
  Tensor<T, Space> mean;
  Tensor<T, Space> rstd;
};

namespace detail {
namespace km = ibq::kmath;

// rows of length cg * inner; channel of element j in row r: (r % groups) * cg + j / inner.
struct RowLayout {
  index_t rows = 0, groups = 1, cg = 1, inner = 1;
  index_t len() const { return cg * inner; }
};

// f(o, e) for o in [0, outer), e in [0, inner) across a team; team_reduce_2d sums f(o, e). Host: a thread
// per o with e contiguous in an inner loop (no integer division per element: with one it was most of
// GroupNorm's time at 32x32); device: lanes over the flattened range, e = j % inner.
template <class Space, class Member, class F>
KOKKOS_INLINE_FUNCTION void team_for_2d(const Member& m, index_t outer, index_t inner, const F& f) {
  if constexpr (host_accessible_v<Space>) {
    Kokkos::parallel_for(Kokkos::TeamThreadRange(m, outer), [&](const index_t o) {
      for (index_t e = 0; e < inner; ++e) f(o, e);
    });
  } else {
    Kokkos::parallel_for(Kokkos::TeamThreadRange(m, outer * inner),
                         [&](const index_t j) { f(j / inner, j % inner); });
  }
}
template <class Space, class T, class Member, class F>
KOKKOS_INLINE_FUNCTION T team_reduce_2d(const Member& m, index_t outer, index_t inner, const F& f) {
  T total = 0;
  if constexpr (host_accessible_v<Space>) {
    Kokkos::parallel_reduce(
        Kokkos::TeamThreadRange(m, outer),
        [&](const index_t o, T& acc) {
          T part = 0;
          for (index_t e = 0; e < inner; ++e) part += f(o, e);
          acc += part;
        },
        total);
  } else {
    Kokkos::parallel_reduce(
        Kokkos::TeamThreadRange(m, outer * inner), [&](const index_t j, T& acc) { acc += f(j / inner, j % inner); },
        total);
  }
  return total;
}

template <class T, class Space>
NormResult<T, Space> row_norm_forward(const char* op, const Tensor<T, Space>& x, const RowLayout& lay,
                                      const Tensor<T, Space>& gamma, const Tensor<T, Space>& beta, double eps,
                                      bool center) {
  using tensor_t = Tensor<T, Space>;
  using policy_t = Kokkos::TeamPolicy<exec_space_t<Space>>;
  using member_t = typename policy_t::member_type;
  NormResult<T, Space> res;
  res.y = tensor_t::empty(x.shape());
  if (center) res.mean = tensor_t::empty({lay.rows});
  res.rstd = tensor_t::empty({lay.rows});
  auto xv = x.view();
  auto yv = res.y.view();
  auto meanv = res.mean.view();
  auto rstdv = res.rstd.view();
  auto gv = gamma.view();
  auto bv = beta.view();
  const bool has_beta = beta.defined();
  const index_t len = lay.len(), groups = lay.groups, cg = lay.cg, inner = lay.inner;
  const T teps = T(eps);
  if constexpr (host_accessible_v<Space>) {
    if (inner == 1 && groups == 1 && len > 0) {  // last-axis norms: a thread per row, sums in vector lanes
      Kokkos::parallel_for(std::string("ibq::ops::") + op + "_fwd_rows", range<Space>(lay.rows),
                           KOKKOS_LAMBDA(index_t r) {
                             const T* xr = &xv(r * len);
                             T* yr = &yv(r * len);
                             T mu = 0, ss = 0;
                             if (center) {
                               IBQ_SIMD_REDUCE(+, mu)
                               for (index_t c = 0; c < len; ++c) mu += xr[c];
                               mu /= T(len);
                             }
                             IBQ_SIMD_REDUCE(+, ss)
                             for (index_t c = 0; c < len; ++c) ss += (xr[c] - mu) * (xr[c] - mu);
                             const T rs = T(1) / km::sqrt(ss / T(len) + teps);
                             for (index_t c = 0; c < len; ++c) {
                               const T v = (xr[c] - mu) * rs * gv(c);
                               yr[c] = has_beta ? v + bv(c) : v;
                             }
                             if (center) meanv(r) = mu;
                             rstdv(r) = rs;
                           });
      return res;
    }
  }
  Kokkos::parallel_for(
      std::string("ibq::ops::") + op + "_fwd", policy_t(lay.rows, Kokkos::AUTO), KOKKOS_LAMBDA(const member_t& m) {
        const index_t r = m.league_rank();
        const index_t base = r * len;  // element (cl, e) of the row is base + cl * inner + e, channel c0 + cl
        T mu = 0;
        if (center)
          mu = team_reduce_2d<Space, T>(m, cg, inner, [&](index_t cl, index_t e) { return xv(base + cl * inner + e); }) /
               T(len);
        // Two passes (mean, then squared deviations) so large means do not cancel the variance.
        const T ss = team_reduce_2d<Space, T>(m, cg, inner, [&](index_t cl, index_t e) {
          const T d = xv(base + cl * inner + e) - mu;
          return d * d;
        });
        const T rs = T(1) / km::sqrt(ss / T(len) + teps);
        const index_t c0 = (r % groups) * cg;
        team_for_2d<Space>(m, cg, inner, [&](index_t cl, index_t e) {
          const index_t j = base + cl * inner + e;
          const T v = (xv(j) - mu) * rs * gv(c0 + cl);
          yv(j) = has_beta ? v + bv(c0 + cl) : v;
        });
        Kokkos::single(Kokkos::PerTeam(m), [&]() {
          if (center) meanv(r) = mu;
          rstdv(r) = rs;
        });
      });
  return res;
}

// The affine gradients of a last-axis norm on the host: ggamma[c] += sum_r gy[r, c] * xhat[r, c] and
// gbeta[c] += sum_r gy[r, c]. A channel's elements lie a whole row apart, so the per-channel gather below
// strides through memory; here a thread sums a block of rows into a partial row (the inner loop runs along
// the channels, contiguous, and vectorises), and the partials are added in block order: the same result
// for any thread count.
template <class T, class Space>
void affine_grad_rows(const Tensor<T, Space>& x, const RowLayout& lay, const Tensor<T, Space>& mean,
                      const Tensor<T, Space>& rstd, const Tensor<T, Space>& gy, const Tensor<T, Space>& ggamma,
                      const Tensor<T, Space>& gbeta, bool center) {
  constexpr index_t block = 64;
  const index_t len = lay.len(), blocks = (lay.rows + block - 1) / block;
  const bool has_gg = ggamma.defined(), has_gb = gbeta.defined();
  auto pg = Tensor<T, Space>::empty(Shape{blocks, len});
  auto pb = Tensor<T, Space>::empty(Shape{blocks, len});
  auto xv = x.view();
  auto gyv = gy.view();
  auto meanv = mean.view();
  auto rstdv = rstd.view();
  auto pgv = pg.view();
  auto pbv = pb.view();
  const index_t rows = lay.rows;
  Kokkos::parallel_for("ibq::ops::norm_affine_bwd_rows", range<Space>(blocks), KOKKOS_LAMBDA(index_t b) {
    T* sg = &pgv(b * len);
    T* sb = &pbv(b * len);
    for (index_t c = 0; c < len; ++c) sg[c] = sb[c] = T(0);
    const index_t r1 = (b + 1) * block < rows ? (b + 1) * block : rows;
    for (index_t r = b * block; r < r1; ++r) {
      const T mu = center ? meanv(r) : T(0), rs = rstdv(r);
      const T* xr = &xv(r * len);
      const T* gr = &gyv(r * len);
      for (index_t c = 0; c < len; ++c) {
        sg[c] += gr[c] * (xr[c] - mu) * rs;
        sb[c] += gr[c];
      }
    }
  });
  auto ggv = ggamma.view();
  auto gbv = gbeta.view();
  Kokkos::parallel_for("ibq::ops::norm_affine_bwd_sum", range<Space>(len), KOKKOS_LAMBDA(index_t c) {
    T g = 0, bsum = 0;
    for (index_t b = 0; b < blocks; ++b) {
      g += pgv(b * len + c);
      bsum += pbv(b * len + c);
    }
    if (has_gg) ggv(c) += g;
    if (has_gb) gbv(c) += bsum;
  });
}

// gx += rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = gy * gamma (mean term only when
// centred); ggamma[c] += sum gy * xhat and gbeta[c] += sum gy over the elements of channel c.
template <class T, class Space>
void row_norm_backward(const char* op, const Tensor<T, Space>& x, const RowLayout& lay, const Tensor<T, Space>& mean,
                       const Tensor<T, Space>& rstd, const Tensor<T, Space>& gamma, const Tensor<T, Space>& gy,
                       const Tensor<T, Space>& gx, const Tensor<T, Space>& ggamma, const Tensor<T, Space>& gbeta,
                       bool center) {
  using policy_t = Kokkos::TeamPolicy<exec_space_t<Space>>;
  using member_t = typename policy_t::member_type;
  auto xv = x.view();
  auto meanv = mean.view();
  auto rstdv = rstd.view();
  auto gv = gamma.view();
  auto gyv = gy.view();
  const index_t len = lay.len(), groups = lay.groups, cg = lay.cg, inner = lay.inner;
  const bool rows_path = host_accessible_v<Space> && inner == 1 && groups == 1;
  if (gx.defined() && rows_path) {  // last-axis norms on the host: as in the forward, a thread per row
    auto gxv = gx.view();
    Kokkos::parallel_for(std::string("ibq::ops::") + op + "_bwd_rows", range<Space>(lay.rows),
                         KOKKOS_LAMBDA(index_t r) {
                           const T* xr = &xv(r * len);
                           const T* gr = &gyv(r * len);
                           T* dr = &gxv(r * len);
                           const T mu = center ? meanv(r) : T(0), rs = rstdv(r);
                           T s1 = 0, s2 = 0;
                           IBQ_SIMD_REDUCE(+, s1, s2)
                           for (index_t c = 0; c < len; ++c) {
                             const T dxhat = gr[c] * gv(c);
                             s1 += dxhat;
                             s2 += dxhat * (xr[c] - mu) * rs;
                           }
                           const T m1 = center ? s1 / T(len) : T(0), m2 = s2 / T(len);
                           for (index_t c = 0; c < len; ++c)
                             dr[c] += rs * (gr[c] * gv(c) - m1 - (xr[c] - mu) * rs * m2);
                         });
  } else if (gx.defined()) {
    auto gxv = gx.view();
    Kokkos::parallel_for(
        std::string("ibq::ops::") + op + "_bwd", policy_t(lay.rows, Kokkos::AUTO), KOKKOS_LAMBDA(const member_t& m) {
          const index_t r = m.league_rank();
          const index_t base = r * len;
          const T mu = center ? meanv(r) : T(0), rs = rstdv(r);
          const index_t c0 = (r % groups) * cg;
          T s1 = 0;
          if (center)
            s1 = team_reduce_2d<Space, T>(m, cg, inner, [&](index_t cl, index_t e) {
              return gyv(base + cl * inner + e) * gv(c0 + cl);
            });
          const T s2 = team_reduce_2d<Space, T>(m, cg, inner, [&](index_t cl, index_t e) {
            const index_t j = base + cl * inner + e;
            return gyv(j) * gv(c0 + cl) * (xv(j) - mu) * rs;
          });
          const T m1 = s1 / T(len), m2 = s2 / T(len);
          team_for_2d<Space>(m, cg, inner, [&](index_t cl, index_t e) {
            const index_t j = base + cl * inner + e;
            const T xhat = (xv(j) - mu) * rs;
            const T dxhat = gyv(j) * gv(c0 + cl);
            gxv(j) += rs * (dxhat - m1 - xhat * m2);
          });
        });
  }
  if constexpr (host_accessible_v<Space>) {
    if (inner == 1 && groups == 1 && (ggamma.defined() || gbeta.defined())) {
      affine_grad_rows(x, lay, mean, rstd, gy, ggamma, gbeta, center);
      return;
    }
  }
  if (ggamma.defined() || gbeta.defined()) {
    // Gather per channel: channel c reads rows n * groups + c / cg, columns (c % cg) * inner + [0, inner).
    const bool has_gg = ggamma.defined(), has_gb = gbeta.defined();
    auto ggv = ggamma.view();
    auto gbv = gbeta.view();
    const index_t per_group = lay.rows / groups;
    Kokkos::parallel_for(
        std::string("ibq::ops::") + op + "_affine_bwd", policy_t(groups * cg, Kokkos::AUTO),
        KOKKOS_LAMBDA(const member_t& m) {
          const index_t c = m.league_rank();
          const index_t g = c / cg, col0 = (c % cg) * inner;
          // (n, e): row n * groups + g, element col0 + e of it.
          const T sg = team_reduce_2d<Space, T>(m, per_group, inner, [&](index_t n, index_t e) {
            const index_t r = n * groups + g, i = r * len + col0 + e;
            return gyv(i) * (xv(i) - (center ? meanv(r) : T(0))) * rstdv(r);
          });
          T sb = 0;
          if (has_gb)
            sb = team_reduce_2d<Space, T>(m, per_group, inner,
                                          [&](index_t n, index_t e) { return gyv((n * groups + g) * len + col0 + e); });
          Kokkos::single(Kokkos::PerTeam(m), [&]() {
            if (has_gg) ggv(c) += sg;
            if (has_gb) gbv(c) += sb;
          });
        });
  }
}

inline RowLayout group_norm_layout(const Shape& xs, int groups, const char* op) {
  IBQ_CHECK(xs.rank >= 2, op << ": input " << xs << " must be [N, C, ...] (rank >= 2)");
  IBQ_CHECK(groups > 0 && xs[1] % groups == 0,
            op << ": " << xs[1] << " channels of input " << xs << " cannot be split into " << groups
               << " groups; choose a group count that divides C");
  RowLayout lay;
  lay.groups = groups;
  lay.rows = xs[0] * groups;
  lay.cg = xs[1] / groups;
  lay.inner = xs.prod(2, xs.rank);
  return lay;
}
inline RowLayout last_axis_layout(const Shape& xs, const char* op) {
  IBQ_CHECK(xs.rank >= 1, op << ": input " << xs << " has no last axis to normalise");
  RowLayout lay;
  lay.cg = xs[-1];
  lay.rows = lay.cg == 0 ? 0 : xs.numel() / lay.cg;
  return lay;
}
inline void check_norm_param(const Shape& p, index_t n, const Shape& xs, const char* op, const char* name,
                        const char* what) {
  IBQ_CHECK(p.rank == 1 && p[0] == n, op << ": " << name << " has shape " << p << " but input " << xs << " needs ["
                                         << n << "] (one per " << what << ")");
}
}  // namespace detail

// ---- kernels ------------------------------------------------------------------------------------------
template <class T, class Space>
NormResult<T, Space> group_norm_forward(const Tensor<T, Space>& x, int groups, const Tensor<T, Space>& gamma,
                                        const Tensor<T, Space>& beta, double eps) {
  const auto lay = detail::group_norm_layout(x.shape(), groups, "group_norm");
  detail::check_norm_param(gamma.shape(), x.dim(1), x.shape(), "group_norm", "gamma", "channel");
  detail::check_norm_param(beta.shape(), x.dim(1), x.shape(), "group_norm", "beta", "channel");
  return detail::row_norm_forward("group_norm", x, lay, gamma, beta, eps, true);
}
// mean/rstd: [N * groups] from group_norm_forward. Undefined gradients are skipped.
template <class T, class Space>
void group_norm_backward(const Tensor<T, Space>& x, int groups, const Tensor<T, Space>& mean,
                         const Tensor<T, Space>& rstd, const Tensor<T, Space>& gamma, const Tensor<T, Space>& gy,
                         const Tensor<T, Space>& gx, const Tensor<T, Space>& ggamma, const Tensor<T, Space>& gbeta) {
  const auto lay = detail::group_norm_layout(x.shape(), groups, "group_norm");
  detail::row_norm_backward("group_norm", x, lay, mean, rstd, gamma, gy, gx, ggamma, gbeta, true);
}

template <class T, class Space>
NormResult<T, Space> layer_norm_forward(const Tensor<T, Space>& x, const Tensor<T, Space>& gamma,
                                        const Tensor<T, Space>& beta, double eps) {
  const auto lay = detail::last_axis_layout(x.shape(), "layer_norm");
  detail::check_norm_param(gamma.shape(), lay.cg, x.shape(), "layer_norm", "gamma", "feature of the last axis");
  detail::check_norm_param(beta.shape(), lay.cg, x.shape(), "layer_norm", "beta", "feature of the last axis");
  return detail::row_norm_forward("layer_norm", x, lay, gamma, beta, eps, true);
}
template <class T, class Space>
void layer_norm_backward(const Tensor<T, Space>& x, const Tensor<T, Space>& mean, const Tensor<T, Space>& rstd,
                         const Tensor<T, Space>& gamma, const Tensor<T, Space>& gy, const Tensor<T, Space>& gx,
                         const Tensor<T, Space>& ggamma, const Tensor<T, Space>& gbeta) {
  detail::row_norm_backward("layer_norm", x, detail::last_axis_layout(x.shape(), "layer_norm"), mean, rstd, gamma, gy,
                            gx, ggamma, gbeta, true);
}

template <class T, class Space>
NormResult<T, Space> rms_norm_forward(const Tensor<T, Space>& x, const Tensor<T, Space>& weight, double eps) {
  const auto lay = detail::last_axis_layout(x.shape(), "rms_norm");
  detail::check_norm_param(weight.shape(), lay.cg, x.shape(), "rms_norm", "weight", "feature of the last axis");
  return detail::row_norm_forward("rms_norm", x, lay, weight, Tensor<T, Space>(), eps, false);
}
template <class T, class Space>
void rms_norm_backward(const Tensor<T, Space>& x, const Tensor<T, Space>& rstd, const Tensor<T, Space>& weight,
                       const Tensor<T, Space>& gy, const Tensor<T, Space>& gx, const Tensor<T, Space>& gweight) {
  detail::row_norm_backward("rms_norm", x, detail::last_axis_layout(x.shape(), "rms_norm"), Tensor<T, Space>(), rstd,
                            weight, gy, gx, gweight, Tensor<T, Space>(), false);
}

// Training: normalises with the batch statistics over (N, ...) per channel (biased variance) and, when the
// running stats are defined, updates them in place as PyTorch does: r = (1 - momentum) r + momentum s, with
// the UNBIASED variance. Inference: normalises with the running stats. mean/rstd: [C].
template <class T, class Space>
NormResult<T, Space> batch_norm_forward(const Tensor<T, Space>& x, const Tensor<T, Space>& gamma,
                                        const Tensor<T, Space>& beta, const Tensor<T, Space>& running_mean,
                                        const Tensor<T, Space>& running_var, bool training, double momentum = 0.1,
                                        double eps = 1e-5) {
  using tensor_t = Tensor<T, Space>;
  using policy_t = Kokkos::TeamPolicy<exec_space_t<Space>>;
  using member_t = typename policy_t::member_type;
  namespace km = ibq::kmath;
  const Shape& xs = x.shape();
  IBQ_CHECK(xs.rank >= 2, "batch_norm: input " << xs << " must be [N, C, ...] (rank >= 2)");
  const index_t C = xs[1], S = xs.prod(2, xs.rank), M = xs[0] * S;
  detail::check_norm_param(gamma.shape(), C, xs, "batch_norm", "gamma", "channel");
  detail::check_norm_param(beta.shape(), C, xs, "batch_norm", "beta", "channel");
  const bool update = training && running_mean.defined();
  IBQ_CHECK(running_mean.defined() == running_var.defined(),
            "batch_norm: pass both running_mean and running_var, or neither");
  IBQ_CHECK(training || running_mean.defined(),
            "batch_norm: inference mode needs running_mean and running_var; pass them or use training = true");
  if (running_mean.defined()) {
    detail::check_norm_param(running_mean.shape(), C, xs, "batch_norm", "running_mean", "channel");
    detail::check_norm_param(running_var.shape(), C, xs, "batch_norm", "running_var", "channel");
  }
  IBQ_CHECK(!training || M > 1, "batch_norm: training needs more than one value per channel, but input "
                                    << xs << " has " << M << "; use a larger batch or inference mode");
  IBQ_CHECK(momentum >= 0 && momentum <= 1, "batch_norm: momentum " << momentum << " is outside [0, 1]");

  NormResult<T, Space> res;
  res.y = tensor_t::empty(xs);
  res.mean = tensor_t::empty({C});
  res.rstd = tensor_t::empty({C});
  auto xv = x.view();
  auto yv = res.y.view();
  auto meanv = res.mean.view();
  auto rstdv = res.rstd.view();
  auto gv = gamma.view();
  auto bv = beta.view();
  auto rmv = running_mean.view();
  auto rvv = running_var.view();
  const T teps = T(eps), mom = T(momentum);
  Kokkos::parallel_for(
      "ibq::ops::batch_norm_fwd", policy_t(C, Kokkos::AUTO), KOKKOS_LAMBDA(const member_t& m) {
        const index_t c = m.league_rank();
        T mu, rs;
        if (training) {
          T s = 0, ss = 0;
          Kokkos::parallel_reduce(
              Kokkos::TeamThreadRange(m, M), [&](const index_t e, T& acc) { acc += xv(((e / S) * C + c) * S + e % S); },
              s);
          mu = s / T(M);
          Kokkos::parallel_reduce(
              Kokkos::TeamThreadRange(m, M),
              [&](const index_t e, T& acc) {
                const T d = xv(((e / S) * C + c) * S + e % S) - mu;
                acc += d * d;
              },
              ss);
          const T var = ss / T(M);
          rs = T(1) / km::sqrt(var + teps);
          if (update)
            Kokkos::single(Kokkos::PerTeam(m), [&]() {
              rmv(c) = (T(1) - mom) * rmv(c) + mom * mu;
              rvv(c) = (T(1) - mom) * rvv(c) + mom * var * T(M) / T(M - 1);
            });
        } else {
          mu = rmv(c);
          rs = T(1) / km::sqrt(rvv(c) + teps);
        }
        const T scale = rs * gv(c), shift = bv(c);
        Kokkos::parallel_for(Kokkos::TeamThreadRange(m, M), [&](const index_t e) {
          const index_t i = ((e / S) * C + c) * S + e % S;
          yv(i) = (xv(i) - mu) * scale + shift;
        });
        Kokkos::single(Kokkos::PerTeam(m), [&]() {
          meanv(c) = mu;
          rstdv(c) = rs;
        });
      });
  if (update) {
    running_mean.bump_version();
    running_var.bump_version();
  }
  return res;
}

// In training the statistics depend on x, which adds the two mean terms to dx; in inference they are
// constants and dx = gy * gamma * rstd.
template <class T, class Space>
void batch_norm_backward(const Tensor<T, Space>& x, const Tensor<T, Space>& mean, const Tensor<T, Space>& rstd,
                         const Tensor<T, Space>& gamma, bool training, const Tensor<T, Space>& gy,
                         const Tensor<T, Space>& gx, const Tensor<T, Space>& ggamma, const Tensor<T, Space>& gbeta) {
  using policy_t = Kokkos::TeamPolicy<exec_space_t<Space>>;
  using member_t = typename policy_t::member_type;
  const Shape& xs = x.shape();
  const index_t C = xs[1], S = xs.prod(2, xs.rank), M = xs[0] * S;
  auto xv = x.view();
  auto meanv = mean.view();
  auto rstdv = rstd.view();
  auto gv = gamma.view();
  auto gyv = gy.view();
  auto gxv = gx.view();
  auto ggv = ggamma.view();
  auto gbv = gbeta.view();
  const bool has_gx = gx.defined(), has_gg = ggamma.defined(), has_gb = gbeta.defined();
  Kokkos::parallel_for(
      "ibq::ops::batch_norm_bwd", policy_t(C, Kokkos::AUTO), KOKKOS_LAMBDA(const member_t& m) {
        const index_t c = m.league_rank();
        const T mu = meanv(c), rs = rstdv(c);
        T sdy = 0, sdyx = 0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(m, M), [&](const index_t e, T& acc) { acc += gyv(((e / S) * C + c) * S + e % S); },
            sdy);
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(m, M),
            [&](const index_t e, T& acc) {
              const index_t i = ((e / S) * C + c) * S + e % S;
              acc += gyv(i) * (xv(i) - mu) * rs;
            },
            sdyx);
        if (has_gx) {
          const T k = rs * gv(c);
          const T m1 = training ? sdy / T(M) : T(0), m2 = training ? sdyx / T(M) : T(0);
          Kokkos::parallel_for(Kokkos::TeamThreadRange(m, M), [&](const index_t e) {
            const index_t i = ((e / S) * C + c) * S + e % S;
            gxv(i) += k * (gyv(i) - m1 - (xv(i) - mu) * rs * m2);
          });
        }
        Kokkos::single(Kokkos::PerTeam(m), [&]() {
          if (has_gg) ggv(c) += sdyx;
          if (has_gb) gbv(c) += sdy;
        });
      });
}

// ---- differentiable wrappers ----------------------------------------------------------------------------
template <class T, class Space>
Var<T, Space> group_norm(const Var<T, Space>& x, int groups, const Var<T, Space>& gamma, const Var<T, Space>& beta,
                         double eps) {
  auto& tape = x.tape();
  auto r = group_norm_forward(x.value(), groups, gamma.value(), beta.value(), eps);
  return tape.record("group_norm", r.y, {x, gamma, beta},
                     [groups, ix = x.id(), ig = gamma.id(), ib = beta.id(), sx = tape.save(x.value()),
                      sg = tape.save(gamma.value()), sm = tape.save(r.mean),
                      sr = tape.save(r.rstd)](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       group_norm_backward(sx.get("group_norm"), groups, sm.get("group_norm"), sr.get("group_norm"),
                                           sg.get("group_norm"), gy, t.grad_for(ix), t.grad_for(ig),
                                           t.grad_for(ib));
                     });
}

template <class T, class Space>
Var<T, Space> layer_norm(const Var<T, Space>& x, const Var<T, Space>& gamma, const Var<T, Space>& beta, double eps) {
  auto& tape = x.tape();
  auto r = layer_norm_forward(x.value(), gamma.value(), beta.value(), eps);
  return tape.record("layer_norm", r.y, {x, gamma, beta},
                     [ix = x.id(), ig = gamma.id(), ib = beta.id(), sx = tape.save(x.value()),
                      sg = tape.save(gamma.value()), sm = tape.save(r.mean),
                      sr = tape.save(r.rstd)](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       layer_norm_backward(sx.get("layer_norm"), sm.get("layer_norm"), sr.get("layer_norm"),
                                           sg.get("layer_norm"), gy, t.grad_for(ix), t.grad_for(ig),
                                           t.grad_for(ib));
                     });
}

template <class T, class Space>
Var<T, Space> rms_norm(const Var<T, Space>& x, const Var<T, Space>& weight, double eps) {
  auto& tape = x.tape();
  auto r = rms_norm_forward(x.value(), weight.value(), eps);
  return tape.record("rms_norm", r.y, {x, weight},
                     [ix = x.id(), iw = weight.id(), sx = tape.save(x.value()), sw = tape.save(weight.value()),
                      sr = tape.save(r.rstd)](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       rms_norm_backward(sx.get("rms_norm"), sr.get("rms_norm"), sw.get("rms_norm"), gy,
                                         t.grad_for(ix), t.grad_for(iw));
                     });
}

// running_mean/running_var are plain Tensors (buffers, not parameters), updated in place when training.
template <class T, class Space>
Var<T, Space> batch_norm(const Var<T, Space>& x, const Var<T, Space>& gamma, const Var<T, Space>& beta,
                         const Tensor<T, Space>& running_mean, const Tensor<T, Space>& running_var, bool training,
                         double momentum = 0.1, double eps = 1e-5) {
  auto& tape = x.tape();
  auto r = batch_norm_forward(x.value(), gamma.value(), beta.value(), running_mean, running_var, training, momentum,
                              eps);
  return tape.record("batch_norm", r.y, {x, gamma, beta},
                     [training, ix = x.id(), ig = gamma.id(), ib = beta.id(), sx = tape.save(x.value()),
                      sg = tape.save(gamma.value()), sm = tape.save(r.mean),
                      sr = tape.save(r.rstd)](Tape<T, Space>& t, const Tensor<T, Space>& gy) {
                       batch_norm_backward(sx.get("batch_norm"), sm.get("batch_norm"), sr.get("batch_norm"),
                                           sg.get("batch_norm"), training, gy, t.grad_for(ix), t.grad_for(ig),
                                           t.grad_for(ib));
                     });
}

}  // namespace ibq
