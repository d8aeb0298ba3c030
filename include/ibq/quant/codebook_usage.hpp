// ibq/quant/codebook_usage.hpp — codebook utilisation statistics over a stream of index batches.
//
//   ibq::CodebookUsage<> usage(K);
//   for (batch : data) usage.update(quant.forward(z).indices);   // Tensor<int32> on any space
//   usage.batch_usage();   // distinct codes in the last batch / K
//   usage.usage();         // distinct codes ever seen / K      usage.dead_codes() == K - distinct
//   usage.perplexity();    // exp(entropy of the accumulated histogram), in [1, K]
//   usage.reset();
//
// The histogram is counted where the indices live (atomic increments: the fan-in per code is unknown), so
// an evaluation loop copies only a few scalars to the host, never the indices.
#pragma once

#include "ibq/core/kokkos_compat.hpp"
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "ibq/core/tensor.hpp"

namespace ibq {

namespace detail {

using usage_count_t = unsigned long long;  // native 64-bit atomicAdd on CUDA

// counts[ind[i]] += 1 for in-range ids; returns how many ids were outside [0, K)
template <class Space>
index_t codebook_histogram(const Tensor<std::int32_t, Space>& indices, const Kokkos::View<usage_count_t*, Space>& counts,
                           index_t K) {
  auto iv = indices.view();
  auto cv = counts;
  index_t bad = 0;
  host_reads::note();  // reduced into a host scalar
  Kokkos::parallel_reduce(
      "ibq::quant::codebook_hist", range<Space>(indices.size()),
      KOKKOS_LAMBDA(index_t i, index_t & b) {
        const index_t k = iv(i);
        if (k < 0 || k >= K) {
          ++b;
        } else {
          Kokkos::atomic_add(&cv(k), usage_count_t(1));
        }
      },
      bad);
  return bad;
}

// total += batch; returns the number of nonzero entries of batch
template <class Space>
index_t codebook_merge(const Kokkos::View<usage_count_t*, Space>& batch, const Kokkos::View<usage_count_t*, Space>& total) {
  auto bv = batch;
  auto tv = total;
  index_t distinct = 0;
  host_reads::note();  // reduced into a host scalar
  Kokkos::parallel_reduce(
      "ibq::quant::codebook_merge", range<Space>(index_t(batch.extent(0))),
      KOKKOS_LAMBDA(index_t k, index_t & d) {
        if (bv(k) > 0) ++d;
        tv(k) += bv(k);
      },
      distinct);
  return distinct;
}

// (distinct codes, entropy in nats) of a histogram with n observations
template <class Space>
void codebook_stats(const Kokkos::View<usage_count_t*, Space>& counts, index_t n, index_t& distinct, double& entropy) {
  auto cv = counts;
  const double inv_n = n > 0 ? 1.0 / double(n) : 0.0;
  distinct = 0;
  entropy = 0;
  host_reads::note();  // reduced into a host scalar
  Kokkos::parallel_reduce(
      "ibq::quant::codebook_stats", range<Space>(index_t(counts.extent(0))),
      KOKKOS_LAMBDA(index_t k, index_t & d) {
        if (cv(k) > 0) ++d;
      },
      distinct);
  host_reads::note();  // reduced into a host scalar
  Kokkos::parallel_reduce(
      "ibq::quant::codebook_entropy", range<Space>(index_t(counts.extent(0))),
      KOKKOS_LAMBDA(index_t k, double& h) {
        if (cv(k) > 0) {
          const double p = double(cv(k)) * inv_n;
          h -= p * ibq::kmath::log(p);
        }
      },
      entropy);
}

}  // namespace detail

template <class Space = DefaultSpace>
class CodebookUsage {
 public:
  using count_view = Kokkos::View<detail::usage_count_t*, Space>;

  explicit CodebookUsage(index_t codebook_size)
      : K_(codebook_size), total_("ibq::codebook_usage", codebook_size > 0 ? codebook_size : 0),
        batch_("ibq::codebook_usage.batch", codebook_size > 0 ? codebook_size : 0) {
    IBQ_CHECK(codebook_size > 0, "CodebookUsage: codebook_size " << codebook_size << " must be positive");
  }

  // Adds one batch of code ids (any shape, any space). Throws, leaving the statistics untouched, if an id
  // lies outside [0, K).
  template <class S>
  void update(const Tensor<std::int32_t, S>& indices) {
    Tensor<std::int32_t, Space> local;
    if constexpr (std::is_same_v<S, Space>) {
      local = indices;
    } else {
      local = Tensor<std::int32_t, Space>::empty(indices.shape());
      Kokkos::deep_copy(local.view(), indices.view());
    }
    Kokkos::deep_copy(batch_, detail::usage_count_t(0));
    const index_t bad = detail::codebook_histogram(local, batch_, K_);
    IBQ_CHECK(bad == 0, "CodebookUsage::update: " << bad << " of the " << indices.size() << " indices in a batch of shape "
                                                  << indices.shape() << " lie outside [0, " << K_
                                                  << "); was the tracker built for a different codebook size?");
    batch_distinct_ = detail::codebook_merge(batch_, total_);
    batch_count_ = indices.size();
    count_ += indices.size();
    ++batches_;
    stats_valid_ = false;
  }

  index_t codebook_size() const { return K_; }
  index_t batches() const { return batches_; }
  index_t count() const { return count_; }  // ids seen since the last reset
  // Last batch: distinct codes / K (0 before any batch).
  double batch_usage() const { return double(batch_distinct_) / double(K_); }
  index_t batch_distinct() const { return batch_distinct_; }
  // Everything since the last reset.
  index_t distinct() const { return stats().first; }
  double usage() const { return double(distinct()) / double(K_); }
  index_t dead_codes() const { return K_ - distinct(); }
  // exp(-sum_k p_k log p_k), p = accumulated histogram / count; 1 when nothing has been seen.
  double perplexity() const { return std::exp(stats().second); }
  // Accumulated histogram, copied to the host.
  std::vector<std::int64_t> histogram() const {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), total_);
    std::vector<std::int64_t> out(K_);
    for (index_t k = 0; k < K_; ++k) out[k] = static_cast<std::int64_t>(h(k));
    return out;
  }

  void reset() {
    Kokkos::deep_copy(total_, detail::usage_count_t(0));
    batch_distinct_ = batch_count_ = count_ = batches_ = 0;
    stats_valid_ = false;
  }

 private:
  std::pair<index_t, double> stats() const {
    if (!stats_valid_) {
      detail::codebook_stats(total_, count_, distinct_, entropy_);
      stats_valid_ = true;
    }
    return {distinct_, entropy_};
  }

  index_t K_;
  count_view total_, batch_;
  index_t batch_distinct_ = 0, batch_count_ = 0, count_ = 0, batches_ = 0;
  mutable index_t distinct_ = 0;
  mutable double entropy_ = 0;
  mutable bool stats_valid_ = false;
};

}  // namespace ibq
