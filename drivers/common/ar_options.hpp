// drivers/common/ar_options.hpp — the AR model's options, shared by ibq-train-ar (which stores them in
// every checkpoint) and ibq-sample (which rebuilds the model from the stored configuration).
#pragma once

#include <string>

#include "cli.hpp"
#include "ibq/models/ar_transformer.hpp"

namespace ibq::cli {

inline void add_ar_model_options(Options& opt) {
  opt.add<std::string>("model.preset", "B", "B (the reference's default), L, XL, XXL (ImageNet, K = 16384) or fmnist-s/m/l (8x8, K = 1024)")
      .add<long>("model.layers", 0, "blocks (0: the preset's)")
      .add<long>("model.dim", 0, "width C (0: the preset's)")
      .add<long>("model.heads", 0, "attention heads (0: the preset's; head dim = dim / heads)")
      .add<long>("model.classes", 0, "classes, without the null class (0: the preset's)")
      .add<long>("model.vocab_size", 0, "codebook size K of the tokens (0: the preset's)")
      .add<long>("model.grid", 0, "tokens per side of a grid (0: the preset's)")
      .add<double>("model.class_dropout", 0.1, "probability of the null class in training (classifier-free guidance)")
      .add<double>("model.token_dropout", 0.1, "dropout on the input embeddings")
      .add<double>("model.resid_dropout", 0.1, "dropout on each attention output")
      .add<double>("model.ffn_dropout", 0.1, "dropout on each FFN output");
}

inline ArConfig ar_model_config(const Args& args) {
  ArConfig mc = ArConfig::preset(args.get<std::string>("model.preset"));
  auto override_index = [&](const char* key, index_t& field) {
    const long v = args.get<long>(key);
    IBQ_CHECK(v >= 0, key << " must be >= 0 (0: the preset's), got " << v);
    if (v > 0) field = v;
  };
  override_index("model.layers", mc.n_layer);
  override_index("model.dim", mc.dim);
  override_index("model.heads", mc.n_head);
  override_index("model.classes", mc.num_classes);
  override_index("model.vocab_size", mc.vocab_size);
  override_index("model.grid", mc.grid);
  mc.class_dropout = args.get<double>("model.class_dropout");
  mc.token_dropout = args.get<double>("model.token_dropout");
  mc.resid_dropout = args.get<double>("model.resid_dropout");
  mc.ffn_dropout = args.get<double>("model.ffn_dropout");
  mc.validate();
  return mc;
}

}  // namespace ibq::cli
