// Tokenizer structure: the reference configurations' parameter counts (docs/math.md), names,
// shapes through encode/decode, and error messages.
#include "ibq/models/tokenizer.hpp"
#include <cmath>

#include "test_util.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
TokenizerConfig imagenet_config(index_t K) {
  TokenizerConfig cfg;  // defaults are the reference ddconfig, D = 256
  cfg.codebook_size = K;
  return cfg;
}

TokenizerConfig tiny_config(QuantizerKind q) {
  TokenizerConfig cfg;
  cfg.ae.ch = 8;
  cfg.ae.ch_mult = {1, 2};
  cfg.ae.num_res_blocks = 1;
  cfg.ae.attn_resolutions = {4};
  cfg.ae.z_channels = 8;
  cfg.ae.in_channels = 1;
  cfg.ae.out_ch = 1;
  cfg.ae.resolution = 8;
  cfg.ae.norm_groups = 4;
  cfg.quantizer = q;
  cfg.codebook_size = 16;
  cfg.embed_dim = 4;
  return cfg;
}
}  // namespace

TEST_CASE("tokenizer: reference ImageNet configurations have the spec's parameter counts") {
  const auto c = Tokenizer<float>::parameter_counts(imagenet_config(1024));
  CHECK(c.at("encoder") == 46752256);
  CHECK(c.at("decoder") == 59903875);
  CHECK(c.at("quant_conv") + c.at("post_quant_conv") == 131584);
  CHECK(c.at("quantize") == 1024 * 256);
  auto total = [](index_t K) {
    index_t n = 0;
    for (const auto& [name, count] : Tokenizer<float>::parameter_counts(imagenet_config(K))) n += count;
    return n;
  };
  // The spec's rounded totals: 107.0M, 108.9M, 111.0M, 173.9M.
  CHECK(std::llround(total(1024) / 1e5) == 1070);
  CHECK(std::llround(total(8192) / 1e5) == 1089);
  CHECK(std::llround(total(16384) / 1e5) == 1110);
  CHECK(std::llround(total(262144) / 1e5) == 1739);
  CHECK(total(16384) == 46752256 + 59903875 + 131584 + 16384 * 256);
}

TEST_CASE("tokenizer: parameters carry the reference state-dict names") {
  Tokenizer<float> model(tiny_config(QuantizerKind::ibq), 1);
  const auto& s = model.store();
  for (const char* name :
       {"encoder.conv_in.weight", "encoder.down.0.block.0.norm1.weight", "encoder.down.0.downsample.conv.weight",
        "encoder.down.1.block.0.nin_shortcut.weight", "encoder.down.1.attn.0.q.weight", "encoder.mid.block_1.conv2.bias",
        "encoder.mid.attn_1.proj_out.weight", "encoder.norm_out.bias", "encoder.conv_out.weight",
        "quant_conv.weight", "quantize.embedding.weight", "post_quant_conv.bias", "decoder.conv_in.weight",
        "decoder.mid.attn_1.k.bias", "decoder.up.1.block.1.conv1.weight", "decoder.up.1.attn.1.v.weight",
        "decoder.up.1.upsample.conv.weight", "decoder.up.0.block.0.nin_shortcut.weight", "decoder.conv_out.weight"})
    CHECK_NOTHROW(s.find(name));
  CHECK_THROWS(s.find("decoder.up.0.upsample.conv.weight"));  // the top level has no upsampler
  CHECK(s.value(s.find("encoder.down.1.block.0.nin_shortcut.weight")).shape() == Shape{16, 8, 1, 1});
}

TEST_CASE("tokenizer: forward, encode and decode agree on shapes and tokens (ibq and vq)") {
  for (auto q : {QuantizerKind::ibq, QuantizerKind::vq}) {
    Tokenizer<double> model(tiny_config(q), 3);
    auto x = random_tensor<double>({2, 1, 8, 8}, 7);
    Tape<double> tape;
    auto out = model.forward(tape.leaf(x));
    CHECK(out.x_hat.shape() == Shape{2, 1, 8, 8});
    CHECK(out.indices.size() == 2 * 4 * 4);
    auto tokens = model.encode(x);
    REQUIRE(tokens.shape() == Shape{2, 4, 4});
    CHECK(tokens.to_host() == out.indices.to_host());
    // decode(encode(x)) is the forward pass's reconstruction: the same codes through the same decoder
    require_close(model.decode(tokens).to_host(), out.x_hat.value().to_host(), 1e-12);
  }
}

TEST_CASE("tokenizer: bad inputs name the module and the expected shape") {
  Tokenizer<float> model(tiny_config(QuantizerKind::ibq), 1);
  Tape<float> tape;
  REQUIRE_THROWS_WITH(model.forward(tape.leaf(random_tensor<float>({2, 3, 8, 8}, 1))),
                      Catch::Contains("Encoder") && Catch::Contains("model.in_channels"));
  auto bad = Tensor<std::int32_t>::empty(Shape{1, 4, 4});
  Kokkos::deep_copy(bad.view(), 16);
  REQUIRE_THROWS_WITH(model.decode(bad), Catch::Contains("outside the codebook"));
  REQUIRE_THROWS_WITH(model.decode(Tensor<std::int32_t>::empty(Shape{1, 2, 2})), Catch::Contains("[B, 4, 4]"));
  TokenizerConfig cfg = tiny_config(QuantizerKind::ibq);
  cfg.ae.ch = 6;
  REQUIRE_THROWS_WITH(Tokenizer<float>(cfg, 1), Catch::Contains("norm_groups"));
}
