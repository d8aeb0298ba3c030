// The taming Encoder/Decoder against the PyTorch reference in tests/reference/autoencoder_reference.py:
// same weights (loaded by state-dict name), same input -> same latent, reconstruction and gradients
// (input and every parameter), in double.
#include <cmath>

#include "ibq/io/hdf5.hpp"
#include "ibq/models/autoencoder.hpp"
#include "ibq/ops/reduce.hpp"
#include "test_util.hpp"

using namespace ibq;
using namespace ibq::test;


TEST_CASE("autoencoder: encoder and decoder match the PyTorch reference (values and gradients)") {
  h5::File f(std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/autoencoder.h5", h5::File::Mode::read);
  AutoencoderConfig cfg;
  cfg.ch = f.attr<std::int64_t>("/", "ch");
  cfg.ch_mult = {1, 2};
  cfg.num_res_blocks = f.attr<std::int64_t>("/", "num_res_blocks");
  cfg.attn_resolutions = {4};
  cfg.z_channels = f.attr<std::int64_t>("/", "z_channels");
  cfg.in_channels = f.attr<std::int64_t>("/", "in_channels");
  cfg.out_ch = f.attr<std::int64_t>("/", "out_ch");
  cfg.resolution = f.attr<std::int64_t>("/", "resolution");
  cfg.norm_groups = int(f.attr<std::int64_t>("/", "groups"));

  ParamStore<double> store;
  Encoder<double> enc(store, "encoder", cfg);
  Decoder<double> dec(store, "decoder", cfg);
  store.allocate(1);
  for (const auto& e : store.params()) {
    INFO("parameter " << e.name);
    auto w = h5::read_tensor<double>(f, "params/" + e.name);
    REQUIRE(w.shape() == e.shape);
    Kokkos::deep_copy(e.value.view(), w.view());
  }

  Tape<double> tape;
  auto x = tape.leaf(h5::read_tensor<double>(f, "x"), /*requires_grad=*/true);
  auto z = enc.forward(x);
  auto x_hat = dec.forward(z);
  require_rel_close("z", z.value(), h5::read_tensor<double>(f, "z"), 1e-10);
  require_rel_close("x_hat", x_hat.value(), h5::read_tensor<double>(f, "x_hat"), 1e-10);

  auto r = tape.leaf(h5::read_tensor<double>(f, "r"));
  tape.backward(sum(x_hat * r));
  require_rel_close("grad x", tape.grad(x.id()), h5::read_tensor<double>(f, "grad_x"), 1e-10);
  for (const auto& e : store.params()) require_rel_close("grad " + e.name, e.grad, h5::read_tensor<double>(f, "grads/" + e.name), 1e-9);
}
