// ibq/models/classifier.hpp — a small CNN for Fashion-MNIST, later the feature network for FID-style metrics.
//
//   ibq::ClassifierConfig cfg;                     // channels 32,64,128; hidden 128; 10 classes; 28x28x1
//   ibq::Classifier<float> net(cfg, /*seed=*/1);
//   auto out = net.forward(x, /*training=*/true);  // out.logits [N, 10], out.features [N, hidden]
//
// features.{i}: conv3x3 (stride 1 for the first block, 2 after) -> BatchNorm -> ReLU;
// then flatten -> fc1 (hidden) -> ReLU = "features" -> fc2 (logits). Names mirror a torch nn.Module with
// the same attribute names, so weights map 1:1.
#pragma once

#include <string>
#include <vector>

#include "ibq/nn/batch_norm.hpp"
#include "ibq/nn/conv2d.hpp"
#include "ibq/nn/linear.hpp"
#include "ibq/ops/shape_ops.hpp"
#include "ibq/ops/unary.hpp"

namespace ibq {

struct ClassifierConfig {
  std::vector<index_t> channels{32, 64, 128};
  index_t hidden = 128;
  index_t num_classes = 10;
  index_t in_channels = 1;
  index_t image_size = 28;

  // Spatial size after the conv stack: the first block keeps it, each later one halves it (ceil).
  index_t final_size() const {
    index_t s = image_size;
    for (std::size_t i = 1; i < channels.size(); ++i) s = (s + 1) / 2;
    return s;
  }
};

template <class T = float, class Space = DefaultSpace>
class Classifier {
 public:
  struct Output {
    Var<T, Space> logits, features;
  };

  Classifier(const ClassifierConfig& cfg, std::uint64_t seed) : cfg_(cfg) {
    IBQ_CHECK(!cfg.channels.empty(), "Classifier: model.channels must list at least one conv block");
    index_t in = cfg.in_channels;
    for (std::size_t i = 0; i < cfg.channels.size(); ++i) {
      const std::string p = "features." + std::to_string(i);
      convs_.emplace_back(store_, p + ".conv", in, cfg.channels[i], 3, i == 0 ? 1 : 2, 1);
      norms_.emplace_back(store_, p + ".bn", cfg.channels[i]);
      in = cfg.channels[i];
    }
    const index_t s = cfg.final_size();
    fc1_ = Linear<T, Space>(store_, "fc1", in * s * s, cfg.hidden);
    fc2_ = Linear<T, Space>(store_, "fc2", cfg.hidden, cfg.num_classes);
    store_.allocate(seed);
  }
  Classifier(const Classifier&) = delete;  // layers point at store_
  Classifier& operator=(const Classifier&) = delete;

  Output forward(const Var<T, Space>& x, bool training) const {
    const Shape& xs = x.shape();
    IBQ_CHECK(xs.rank == 4 && xs[1] == cfg_.in_channels && xs[2] == cfg_.image_size && xs[3] == cfg_.image_size,
              "Classifier: input " << xs << " does not match [N, " << cfg_.in_channels << ", " << cfg_.image_size
                                   << ", " << cfg_.image_size << "]");
    Var<T, Space> h = x;
    for (std::size_t i = 0; i < convs_.size(); ++i) h = relu(norms_[i].forward(convs_[i].forward(h), training));
    h = reshape(h, {xs[0], h.size() / xs[0]});
    auto features = relu(fc1_.forward(h));
    return {fc2_.forward(features), features};
  }

  ParamStore<T, Space>& store() { return store_; }
  const ParamStore<T, Space>& store() const { return store_; }
  const ClassifierConfig& config() const { return cfg_; }

 private:
  ClassifierConfig cfg_;
  ParamStore<T, Space> store_;
  std::vector<Conv2d<T, Space>> convs_;
  std::vector<BatchNorm<T, Space>> norms_;
  Linear<T, Space> fc1_, fc2_;
};

}  // namespace ibq
