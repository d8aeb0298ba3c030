// Adam/AdamW and gradient clipping against trajectories recorded from torch.optim (tests/fixtures/optim.h5).
#include "test_util.hpp"
#include "ibq/io/hdf5.hpp"
#include "ibq/optim/adam.hpp"
#include "ibq/optim/clip.hpp"
#include "ibq/ops/binary.hpp"

using namespace ibq;
using namespace ibq::test;

namespace {
h5::File fixture() {
  return h5::File(std::string(IBQ_SOURCE_DIR) + "/tests/fixtures/optim.h5", h5::File::Mode::read);
}

// Runs our optimizer on the fixture's gradients and compares every step with PyTorch.
void check_trajectory(const std::string& name) {
  auto f = fixture();
  std::vector<hsize_t> gd;
  const auto p0 = f.read<double>("p0");
  const auto grads = f.read<double>("grads", &gd);
  const auto traj = f.read<double>(name + "/trajectory");
  const index_t n = index_t(p0.size());

  ParamStore<double, Space> store;
  auto a = store.add("a", {5}, Init::zeros());  // two parameters: the update must be global over the flat buffer
  auto b = store.add("b", {n - 5}, Init::zeros());
  store.allocate(0);
  store.flat_values().copy_from_(TensorD::from_host({n}, p0));
  AdamConfig c;
  c.lr = f.attr<double>(name, "lr");
  c.beta1 = f.attr<double>(name, "beta1");
  c.beta2 = f.attr<double>(name, "beta2");
  c.eps = f.attr<double>(name, "eps");
  c.weight_decay = f.attr<double>(name, "weight_decay");
  c.decoupled_weight_decay = f.attr<std::int64_t>(name, "decoupled") != 0;
  Adam<double, Space> opt(store, c);
  for (hsize_t s = 0; s < gd[0]; ++s) {
    std::vector<double> g(grads.begin() + s * n, grads.begin() + (s + 1) * n);
    store.flat_grads().copy_from_(TensorD::from_host({n}, g));
    opt.step();
    std::vector<double> want(traj.begin() + s * n, traj.begin() + (s + 1) * n);
    INFO(name << " step " << s + 1);
    require_close(store.flat_values().to_host(), want, 1e-12);
  }
  REQUIRE(store.value(a).to_host()[0] == store.flat_values().to_host()[0]);
  REQUIRE(store.value(b).size() == n - 5);
}
}  // namespace

TEST_CASE("adam: matches torch.optim.Adam with the IBQ tokenizer's betas", "[optim]") { check_trajectory("adam_ibq"); }
TEST_CASE("adam: L2 weight decay matches torch.optim.Adam", "[optim]") { check_trajectory("adam_l2"); }
TEST_CASE("adamw: decoupled weight decay matches torch.optim.AdamW", "[optim]") { check_trajectory("adamw_ar"); }

TEST_CASE("adamw: decay_matrices_only decays weights of rank >= 2, never norms and biases", "[optim]") {
  ParamStore<double, Space> store;
  auto w = store.add("fc.weight", {2, 3}, Init::constant(1.0));
  auto b = store.add("fc.bias", {3}, Init::constant(1.0));
  store.allocate(0);
  AdamConfig c;
  c.lr = 0.1, c.weight_decay = 0.5, c.decoupled_weight_decay = true;
  Adam<double, Space> opt(store, c);
  opt.decay_matrices_only();
  opt.step();  // zero gradients: only the decay moves anything
  for (double v : store.value(w).to_host()) CHECK(v == Approx(1.0 - 0.1 * 0.5));
  for (double v : store.value(b).to_host()) CHECK(v == 1.0);
  Adam<double, Space> all(store, c);  // the reference's behaviour: every group decays
  all.step();
  for (double v : store.value(b).to_host()) CHECK(v == Approx(1.0 - 0.1 * 0.5));
}

TEST_CASE("clip_grad_norm: matches torch.nn.utils.clip_grad_norm_", "[optim]") {
  auto f = fixture();
  for (std::string name : {"clip_active", "clip_inactive"}) {
    const auto before = f.read<double>(name + "/before");
    ParamStore<double, Space> store;
    store.add("a", {5}, Init::zeros());
    store.add("b", {7}, Init::zeros());
    store.allocate(0);
    store.flat_grads().copy_from_(TensorD::from_host({12}, before));
    const double norm = clip_grad_norm(store, f.attr<double>(name, "max_norm"));
    INFO(name);
    REQUIRE(norm == Approx(f.attr<double>(name, "norm")).epsilon(1e-12));
    require_close(store.flat_grads().to_host(), f.read<double>(name + "/after"), 1e-12);
  }
}

TEST_CASE("adam: a step invalidates parameter values saved on a tape", "[optim]") {
  ParamStore<double, Space> store;
  auto w = store.add("w", {3}, Init::ones());
  store.allocate(0);
  Adam<double, Space> opt(store, {});
  TapeD tape;
  auto wv = store.param(tape, w);
  auto y = wv * wv;
  opt.step();  // modifies w in place while the tape still needs it
  REQUIRE_THROWS_WITH(tape.backward(y, TensorD::full({3}, 1.0)), Catch::Contains("modified in place"));
}
