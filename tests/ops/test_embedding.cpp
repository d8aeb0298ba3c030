// Embedding lookup: values and gradients against PyTorch, a host loop for higher-rank indices,
// a gradient check, and the out-of-range error.
#include <cstdint>
#include <string>

#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/ops/embedding.hpp"

using namespace ibq;
using namespace ibq::test;
using Indices = Tensor<std::int32_t, Space>;

TEST_CASE("embedding: values and gradients match PyTorch", "[ops][embedding]") {
  h5::File f(std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/norm.h5", h5::File::Mode::read);
  TapeD tape;
  auto w = tape.leaf(h5::read_tensor<double>(f, "embedding/weight"), true);
  const auto idx = h5::read_tensor<std::int32_t>(f, "embedding/indices");
  auto y = embedding(w, idx);
  REQUIRE(y.shape() == Shape{2, 5, 3});
  require_close(y.value().to_host(), h5::read_tensor<double>(f, "embedding/out").to_host(), 1e-12);
  tape.backward(y, h5::read_tensor<double>(f, "embedding/r"));
  require_close(w.grad().to_host(), h5::read_tensor<double>(f, "embedding/grad_weight").to_host(), 1e-10);
}

TEST_CASE("embedding: rank-3 indices and float values against a host loop", "[ops][embedding]") {
  const index_t V = 11, D = 6;
  auto w = random_tensor<float>({V, D}, 1);
  std::vector<std::int32_t> ids(2 * 3 * 4);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 7 + 3) % V);
  const auto idx = Indices::from_host({2, 3, 4}, ids);
  const auto y = embedding_forward(w, idx);
  REQUIRE(y.shape() == Shape{2, 3, 4, D});
  const auto wh = w.to_host();
  std::vector<float> want;
  for (auto id : ids)
    for (index_t d = 0; d < D; ++d) want.push_back(wh[id * D + d]);
  require_close(y.to_host(), want, 0.0);
  // the unchecked lookup (ids the library computed) gives the same rows without reading the ids back
  const long reads = host_reads::count();
  const auto y_unchecked = embedding_forward(w, idx, IdCheck::none);
  REQUIRE(host_reads::count() == reads);
  require_close(y_unchecked.to_host(), want, 0.0);
  REQUIRE(host_reads::count() == reads + 1);  // and to_host is one read

  // backward kernel: each row of gweight receives the sum of the gy rows that selected it
  auto gy = random_tensor<float>({2, 3, 4, D}, 2);
  Tensor<float, Space> gw({V, D});
  embedding_backward(idx, gy, gw);
  const auto gyh = gy.to_host();
  std::vector<float> gwant(V * D, 0.f);
  for (std::size_t i = 0; i < ids.size(); ++i)
    for (index_t d = 0; d < D; ++d) gwant[ids[i] * D + d] += gyh[i * D + d];
  require_close(gw.to_host(), gwant, 1e-6);
}

TEST_CASE("embedding: gradient check", "[ops][embedding][grad]") {
  const auto idx = Indices::from_host({2, 4}, {0, 4, 4, 2, 1, 4, 0, 3});  // repeats and an unused row
  require_grad_ok([&](TapeD&, const VarsD& v) { return embedding(v[0], idx); }, {random_tensor({6, 3}, 1)},
                  {"weight"});
}

TEST_CASE("embedding: out-of-range indices and bad tables name the op, the index and V", "[ops][embedding]") {
  TapeD tape;
  auto w = tape.leaf(TensorD({7, 3}));
  REQUIRE_THROWS_WITH(embedding(w, Indices::from_host({3}, {1, 12, 2})),
                      Catch::Contains("embedding") && Catch::Contains("index 12") && Catch::Contains("V = 7"));
  REQUIRE_THROWS_WITH(embedding(w, Indices::from_host({2}, {-1, 0})),
                      Catch::Contains("embedding") && Catch::Contains("index -1") && Catch::Contains("V = 7"));
  REQUIRE_THROWS_WITH(embedding(tape.leaf(TensorD({7})), Indices::from_host({1}, {0})),
                      Catch::Contains("embedding") && Catch::Contains("[7]"));
}
