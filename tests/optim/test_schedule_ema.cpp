// Learning-rate schedules and the parameter EMA against their definitions.
#include "ibq/optim/ema.hpp"
#include "ibq/optim/schedule.hpp"
#include "test_util.hpp"

using namespace ibq;
using namespace ibq::test;

TEST_CASE("step_drop_lr: x factor once per completed drop epoch (the reference's lr_drop_epoch)", "[optim]") {
  const std::vector<double> drops{250, 300};
  CHECK(step_drop_lr(1e-4, 0, drops) == 1e-4);
  CHECK(step_drop_lr(1e-4, 249, drops) == 1e-4);
  CHECK(step_drop_lr(1e-4, 250, drops) == Approx(1e-5));
  CHECK(step_drop_lr(1e-4, 299, drops) == Approx(1e-5));
  CHECK(step_drop_lr(1e-4, 300, drops) == Approx(1e-6));
  CHECK(step_drop_lr(1e-4, 329, drops, 0.5) == Approx(2.5e-5));
  CHECK(step_drop_lr(1e-4, 1000, {}) == 1e-4);
}

TEST_CASE("cosine_lr: linear warm-up, then a half cosine to the floor", "[optim]") {
  CHECK(cosine_lr(1.0, 0, 110, 10) == Approx(0.1));
  CHECK(cosine_lr(1.0, 9, 110, 10) == Approx(1.0));
  CHECK(cosine_lr(1.0, 10, 110, 10) == Approx(1.0));
  CHECK(cosine_lr(1.0, 60, 110, 10, 0.2) == Approx(0.6));
  CHECK(cosine_lr(1.0, 110, 110, 10, 0.2) == Approx(0.2));
}

TEST_CASE("ar_lr: warm-up from 0.005 peak, flat for 5% of the rest, linear to wpe peak at the last step", "[optim]") {
  // 10 warm-up steps, then 101 steps (10 .. 110, the last is total - 1 = 110) of which the first 5% are flat.
  CHECK(ar_lr(2.0, 0, 111, 10) == Approx(0.01));
  CHECK(ar_lr(2.0, 5, 111, 10) == Approx(2.0 * (0.005 + 0.995 * 0.5)));
  CHECK(ar_lr(2.0, 10, 111, 10) == Approx(2.0));
  CHECK(ar_lr(2.0, 14, 111, 10) == Approx(2.0));  // 4% of the way: flat
  CHECK(ar_lr(2.0, 60, 111, 10) == Approx(2.0 * (0.1 + 0.9 * 0.5 / 0.95)));
  CHECK(ar_lr(2.0, 110, 111, 10) == Approx(0.2));
  CHECK(ar_lr(2.0, 110, 111, 10, 0.005, 0.01) == Approx(0.02));
  CHECK(ar_lr(2.0, 3, 4, 10) < 2.0);  // all warm-up
}

TEST_CASE("cosine_weight_decay: half cosine from start to end over the run; end = start is constant", "[optim]") {
  CHECK(cosine_weight_decay(0.05, 0.08, 0, 101) == Approx(0.05));
  CHECK(cosine_weight_decay(0.05, 0.08, 50, 101) == Approx(0.065));
  CHECK(cosine_weight_decay(0.05, 0.08, 100, 101) == Approx(0.08));
  CHECK(cosine_weight_decay(0.05, 0.05, 37, 101) == Approx(0.05));
}

TEST_CASE("ema: shadow = decay * shadow + (1 - decay) * params, starting from the params", "[optim]") {
  ParamStore<double, Space> store;
  auto w = store.add("w", {3}, Init::zeros());
  store.allocate(1);
  store.value(w).copy_from_(TensorD::from_host({3}, {1.0, 2.0, 3.0}));
  Ema<double, Space> ema(store, 0.9);
  require_close(ema.shadow().to_host(), std::vector<double>{1.0, 2.0, 3.0}, 0);
  store.value(w).copy_from_(TensorD::from_host({3}, {11.0, 2.0, -7.0}));
  ema.update(store);
  require_close(ema.shadow().to_host(), std::vector<double>{2.0, 2.0, 2.0}, 1e-14);
  ema.update(store);
  require_close(ema.shadow().to_host(), std::vector<double>{2.9, 2.0, 1.1}, 1e-14);
  REQUIRE_THROWS_WITH((Ema<double, Space>(store, 1.0)), Catch::Contains("train.ema_decay"));
}
