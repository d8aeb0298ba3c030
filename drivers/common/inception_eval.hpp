// drivers/common/inception_eval.hpp — the standard FID and IS as ibq-eval computes them: pytorch-fid's FID
// Inception (include/ibq/metrics/inception.hpp) on batches of images, accumulated into mergeable
// statistics (each MPI rank scores its share; one allreduce merges them).
//
//   InceptionEval inc(prog, "pt_inception.h5");                 // make it with hpc/make_inception_weights.py
//   metrics::GaussianMoments m(2048);
//   inc.add_signed(x, m);                                        // float [n, C, H, W] in [-1, 1], C = 1 or 3
//   inc.add_uint8(pixels, n, H, W, C, m, &is_parts, split_of);   // uint8 NHWC (ibq-sample's .npz)
//   auto ref = inc.reference(path, comm, batch);                 // ADM's mu/sigma, or the statistics of arr_0
//
// The protocols follow the reference evaluators (docs/math.md, docs/drivers.md): rFID compares originals
// with reconstructions as floats in [-1, 1] (clamped, not re-quantised to uint8), as SEED-Voken's
// evaluation_image.py feeds pytorch-fid; FID and IS read uint8 samples, as ADM's evaluator does. Grey
// images are replicated to 3 channels.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ibq/dist/communicator.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/io/npz.hpp"
#include "ibq/metrics/gaussian_moments.hpp"
#include "ibq/metrics/inception.hpp"
#include "ibq/metrics/inception_score_parts.hpp"

namespace ibq::cli {

class InceptionEval {
 public:
  static constexpr index_t feature_dim = 2048, classes = 1008;

  InceptionEval(const std::string& prog, const std::string& path) : path_(path) {
    IBQ_CHECK(std::filesystem::exists(path),
              prog << ": eval.inception_weights '" << path << "' does not exist; make it with 'python3 "
                   << "hpc/make_inception_weights.py pt_inception-2015-12-05-6726825d.pth " << path
                   << "' (pytorch-fid's FID weights, downloaded once where there is network)");
    h5::File f(path, h5::File::Mode::read);
    if (f.has_attr("/", "source")) source_ = f.attr_string("/", "source");
    net_ = std::make_unique<metrics::FidInception<>>(path);
  }

  // Which network and weights produced the numbers: printed and stored with every score.
  std::string describe() const {
    return "pytorch-fid's FID InceptionV3 (pool3 2048-d for FID, 1008 logits without bias for IS), weights " + path_ +
           (source_.empty() ? "" : " (" + source_ + ")");
  }
  const std::string& path() const { return path_; }

  // Images in [-1, 1], float [n, C, H, W] (C = 1: replicated).
  void add_signed(const Tensor<float>& x, metrics::GaussianMoments& m) const {
    const auto out = net_->forward_minus1_1(three_channels(x));
    m.add(out.pool3.to_host().data(), x.dim(0));
  }

  // n uint8 NHWC images (exactly n * H * W * C bytes); the IS parts (when given) get each image's logits in split split_of(i).
  void add_uint8(const std::vector<std::uint8_t>& nhwc, index_t n, index_t H, index_t W, index_t C,
                 metrics::GaussianMoments& m, metrics::InceptionScoreParts* is = nullptr,
                 const std::function<index_t(index_t)>& split_of = {}) const {
    const auto out = net_->forward_uint8_nhwc(Tensor<std::uint8_t>::from_host(Shape{n, H, W, C}, nhwc));
    m.add(out.pool3.to_host().data(), n);
    if (is) is->add_logits(out.logits.to_host().data(), n, split_of);
  }

  // The reference statistics of eval.reference_batch: ADM's (mu, sigma), or those of its images (arr_0,
  // uint8 NHWC), each rank scoring its share.
  metrics::Gaussian reference(const std::string& npz, const dist::Communicator& comm, index_t batch) const {
    IBQ_CHECK(std::filesystem::exists(npz), "eval.reference_batch '" << npz << "' does not exist");
    bool has_stats = true;
    try {
      locate_npz(npz, "mu");
    } catch (const Error&) {
      has_stats = false;
    }
    if (has_stats) {
      std::vector<index_t> ms, ss;
      const auto mu = read_npz_float64(npz, "mu", &ms);
      const auto sigma = read_npz_float64(npz, "sigma", &ss);
      const bool pool3 = ms == std::vector<index_t>{feature_dim} && ss == std::vector<index_t>{feature_dim, feature_dim};
      IBQ_CHECK(pool3,
                "eval.reference_batch '" << npz << "': mu and sigma must be [2048] and [2048, 2048] (pool3 statistics)");
      metrics::Gaussian g;
      g.mean = Eigen::Map<const Eigen::VectorXd>(mu.data(), feature_dim);
      g.cov = Eigen::Map<const Eigen::MatrixXd>(sigma.data(), feature_dim, feature_dim);  // symmetric: order moot
      g.count = 0;
      return g;
    }
    NpzRows rows(npz, "arr_0");
    const auto& s = rows.shape();
    IBQ_CHECK(s.size() == 4 && (s[3] == 3 || s[3] == 1),
              "eval.reference_batch '" << npz << "': has neither mu/sigma nor images arr_0 [N, H, W, 3]");
    metrics::GaussianMoments m(feature_dim);
    const index_t N = rows.rows(), lo = N * comm.rank() / comm.size(), hi = N * (comm.rank() + 1) / comm.size();
    for (index_t first = lo; first < hi; first += batch) {
      const index_t n = std::min(batch, hi - first);
      add_uint8(rows.read(first, n), n, s[1], s[2], s[3], m);
    }
    comm.allreduce_sum(m.data(), m.size());
    return m.gaussian();
  }

 private:
  static Tensor<float> three_channels(const Tensor<float>& x) {
    if (x.dim(1) == 3) return x;
    IBQ_CHECK(x.dim(1) == 1, "Inception scores take 1- or 3-channel images, got " << x.shape());
    const auto h = x.to_host();
    const index_t n = x.dim(0), plane = x.dim(2) * x.dim(3);
    std::vector<float> out(std::size_t(n * 3 * plane));
    for (index_t i = 0; i < n; ++i)
      for (index_t c = 0; c < 3; ++c) std::copy_n(h.begin() + i * plane, plane, out.begin() + (i * 3 + c) * plane);
    return Tensor<float>::from_host(Shape{n, 3, x.dim(2), x.dim(3)}, out);
  }

  std::string path_, source_;
  std::unique_ptr<metrics::FidInception<>> net_;
};

}  // namespace ibq::cli
