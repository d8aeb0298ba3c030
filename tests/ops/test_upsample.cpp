// upsample_nearest2x: values and gradient against F.interpolate(scale_factor=2, mode="nearest"), a host
// loop, a finite-difference gradient check, and shape errors.
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/upsample.hpp"

using namespace ibq;
using namespace ibq::test;

TEST_CASE("upsample_nearest2x: values and gradient match PyTorch", "[ops][upsample]") {
  h5::File f(std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/conv.h5", h5::File::Mode::read);
  TapeD tape;
  auto x = tape.leaf(h5::read_tensor<double>(f, "upsample/nearest2x/x"), true);
  auto y = upsample_nearest2x(x);
  const auto want = h5::read_tensor<double>(f, "upsample/nearest2x/out");
  REQUIRE(y.shape() == want.shape());
  require_close(y.value().to_host(), want.to_host(), 1e-12);
  tape.backward(y, h5::read_tensor<double>(f, "upsample/nearest2x/r"));
  require_close(x.grad().to_host(), h5::read_tensor<double>(f, "upsample/nearest2x/grad_x").to_host(), 1e-12);
}

TEST_CASE("upsample_nearest2x: values against a host loop", "[ops][upsample]") {
  const index_t N = 2, C = 3, H = 3, W = 4;
  auto x = random_tensor({N, C, H, W}, 1);
  const auto y = upsample_nearest2x_forward(x);
  REQUIRE(y.shape() == Shape{N, C, 2 * H, 2 * W});
  const auto xh = x.to_host(), yh = y.to_host();
  std::vector<double> want(yh.size());
  for (index_t p = 0; p < N * C; ++p)
    for (index_t i = 0; i < 2 * H; ++i)
      for (index_t j = 0; j < 2 * W; ++j) want[(p * 2 * H + i) * 2 * W + j] = xh[(p * H + i / 2) * W + j / 2];
  require_close(yh, want, 0.0);
}

TEST_CASE("upsample_nearest2x: gradient check", "[ops][upsample][grad]") {
  require_grad_ok([](TapeD&, const VarsD& v) { return upsample_nearest2x(v[0]); }, {random_tensor({2, 3, 3, 5}, 2)},
                  {"x"});
}

TEST_CASE("upsample_nearest2x: non-NCHW input names the op and the shape", "[ops][upsample]") {
  TapeD tape;
  auto x = tape.leaf(TensorD({3, 4, 5}));
  REQUIRE_THROWS_WITH(upsample_nearest2x(x), Catch::Contains("upsample_nearest2x") && Catch::Contains("[3, 4, 5]"));
}
