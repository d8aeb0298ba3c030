// Writes the files the ibq-inspect integration test reads, with the library's own writers, so the test
// inspects exactly what the drivers produce (and needs no Python):
//   DIR/ckpt.h5    save_checkpoint: params, a buffer, Adam moments, a metrics series holding a NaN, config
//   DIR/shard.h5   write_image_shard: 4 RGB images of 2x3 pixels with class names
//   DIR/tokens.h5  shaped like a token dataset (docs/formats.md): tokens int32 [N, H, W] (chunked, compressed),
//                  labels, attributes codebook_size and the tokenizer's path; one int64 array attribute,
//                  grid, stands in for grid_h and grid_w so that array attributes are printed too
// and, for --plot, checkpoints whose metrics/ series look like real runs' (the names, lengths and shapes
// the training drivers record; values that fall and rise the way such runs do):
//   DIR/tok.h5        ibq-train-tokenizer without the GAN: step, loss, l1, quant_loss, sample_entropy,
//                     batch_entropy, usage_batch, usage_window, lr (60 records); loss has a NaN, l1 an Inf
//   DIR/tok_gan.h5    the same with LPIPS and the GAN switched on half way: + perceptual, d_loss, lecam,
//                     logits_real, logits_fake, g_loss, gen_weight (0 before the discriminator starts)
//   DIR/ar.h5         ibq-train-ar: step, loss, lr (50 records)
//   DIR/ar_more.h5    an AR checkpoint with series the drivers print but do not record today (grad_norm,
//                     perplexity), a loss term 1000 times smaller than the loss (z_loss), one nobody
//                     anticipated (tokens_per_s), one all NaN, a 2-D dataset, and float32 steps: what a
//                     later trainer or another writer may store
//   DIR/empty.h5      a tokenizer checkpoint whose series are all empty
// Usage: make_inspect_files DIR
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "ibq/io/checkpoint.hpp"
#include "ibq/io/image_shard.hpp"

namespace {

using Metrics = std::map<std::string, std::vector<double>>;

// Deterministic noise in [-1, 1): the files are the same on every machine and compiler.
double noise(std::uint64_t i, std::uint64_t salt) {
  std::uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull ^ (salt * 0xBF58476D1CE4E5B9ull);
  z = (z ^ (z >> 31)) * 0x94D049BB133111EBull;
  return double(z >> 11) / double(1ull << 52) - 1.0;
}

// Linear warm-up to `peak`, then cosine decay to peak/10 at `total` (the trainers' schedule).
double schedule(double step, double peak, double warmup, double total) {
  if (step < warmup) return peak * step / warmup;
  const double t = (step - warmup) / (total - warmup);
  return peak * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::acos(-1.0) * t)));
}

// The window means ibq-train-tokenizer records every log_every steps (drivers/ibq-train-tokenizer.cpp).
Metrics tokenizer_metrics(int records, double log_every, bool gan) {
  Metrics m;
  const double total = records * log_every, disc_start = total / 2;
  for (int r = 0; r < records; ++r) {
    const double step = (r + 1) * log_every;
    const double l1 = 0.05 + 0.22 * std::exp(-step / 700) + 0.004 * noise(r, 1);
    const double quant = 0.015 + 0.12 * std::exp(-step / 250) + 0.002 * noise(r, 2);
    const double h_sample = 0.4 + 5.5 * std::exp(-step / 400) + 0.05 * noise(r, 3);
    const double h_avg = 6.6 - 3.1 * std::exp(-step / 500) + 0.05 * noise(r, 4);
    double loss = l1 + quant + 0.05 * (h_sample - h_avg);
    m["step"].push_back(step);
    m["l1"].push_back(l1);
    m["quant_loss"].push_back(quant);
    m["sample_entropy"].push_back(h_sample);
    m["batch_entropy"].push_back(h_avg);
    m["usage_batch"].push_back(0.62 - 0.5 * std::exp(-step / 600) + 0.01 * noise(r, 5));
    m["usage_window"].push_back(0.97 - 0.7 * std::exp(-step / 500) + 0.005 * noise(r, 6));
    m["lr"].push_back(schedule(step, 1e-4, total / 10, total));
    if (gan) {
      const bool on = step > disc_start;
      const double since = step - disc_start;
      const double lpips = 0.12 + 0.25 * std::exp(-step / 900) + 0.003 * noise(r, 7);
      const double real = on ? 0.35 + 0.1 * noise(r, 8) : 0, fake = on ? -0.3 + 0.1 * noise(r, 9) : 0;
      const double g = -fake, weight = on ? 0.4 + 0.3 * std::exp(-since / 800) + 0.05 * noise(r, 10) : 0;
      m["perceptual"].push_back(lpips);
      m["d_loss"].push_back(on ? 2.0 - 0.35 * (1 - std::exp(-since / 600)) + 0.05 * noise(r, 11) : 0);
      m["lecam"].push_back(on ? 0.002 + 0.0005 * noise(r, 12) : 0);
      m["logits_real"].push_back(real);
      m["logits_fake"].push_back(fake);
      m["g_loss"].push_back(g);
      m["gen_weight"].push_back(weight);
      loss += lpips + weight * g;
    }
    m["loss"].push_back(loss);
  }
  return m;
}

// ibq-train-ar records step, loss (mean cross-entropy over the window) and lr (drivers/ibq-train-ar.cpp).
Metrics ar_metrics(int records, double log_every) {
  Metrics m;
  const double total = records * log_every;
  for (int r = 0; r < records; ++r) {
    const double step = (r + 1) * log_every;
    m["step"].push_back(step);
    m["loss"].push_back(4.6 + 2.3 * std::exp(-step / 1500) + 0.03 * noise(r, 13));
    m["lr"].push_back(schedule(step, 3e-4, total / 20, total));
  }
  return m;
}

void save(const std::string& path, const std::string& kind, std::int64_t step, const Metrics& metrics,
          const std::function<void(ibq::h5::File&)>& extra = {}) {
  ibq::ParamStore<float> store;  // one small tensor: the series are what these files are for
  store.add("fc.weight", {4, 4}, ibq::Init::uniform(-1, 1));
  store.allocate(/*seed=*/5);
  ibq::Adam<float> adam(store, ibq::AdamConfig{});
  const ibq::CheckpointMeta meta{kind, step, 1, "[model]\nch = 4\n", 1};
  ibq::save_checkpoint(path, meta, store, &adam, metrics, static_cast<const ibq::Tensor<float>*>(nullptr), extra);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_inspect_files DIR\n";
    return 2;
  }
  setenv("OMP_PROC_BIND", "false", 0);  // keeps Kokkos's start-up advice off the test's output
  Kokkos::ScopeGuard kokkos;
  const std::string dir = argv[1];
  try {
    ibq::ParamStore<float> store;
    store.add("encoder.conv_in.weight", {8, 3, 3, 3}, ibq::Init::uniform(-1, 1));
    store.add("encoder.conv_in.bias", {8}, ibq::Init::constant(0.25));
    store.add("decoder.conv_out.weight", {64, 300}, ibq::Init::uniform(-1, 1));  // large: printed in summary
    store.add_buffer("encoder.norm.running_var", {8}, ibq::Init::ones());
    store.allocate(/*seed=*/3);
    ibq::Adam<float> adam(store, ibq::AdamConfig{});
    const ibq::CheckpointMeta meta{"tokenizer", 7, 1, "[model]\nch = 4\n[train]\nlr = 0.001\n", 1};
    ibq::save_checkpoint(dir + "/ckpt.h5", meta, store, &adam, {{"loss", {2.0, 1.0, std::nan("")}}});

    ibq::ImageSet set;
    set.count = 4, set.channels = 3, set.height = 2, set.width = 3;
    for (ibq::index_t i = 0; i < set.count * set.image_size(); ++i) set.pixels.push_back(std::uint8_t(i * 3 % 256));
    set.labels = {0, 1, 2, 1};
    ibq::write_image_shard(dir + "/shard.h5", set, "make_inspect_files", "cat\ndog\nfish");

    ibq::h5::write_atomic(dir + "/tokens.h5", [](ibq::h5::File& f) {
      std::vector<std::int32_t> tokens(3 * 2 * 2);
      for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = std::int32_t(i);  // mean 5.5, 0..11
      f.write("tokens", tokens, {3, 2, 2}, /*compress=*/4);
      f.write("labels", std::vector<std::int32_t>{4, 5, 6}, {3});
      f.set_attr("/", "codebook_size", std::int64_t(1024));
      f.set_attr("/", "tokenizer", "runs/tokenizer.h5");
      const std::int64_t grid[2] = {2, 2};
      const hsize_t n = 2;
      ibq::h5::Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      ibq::h5::Handle a(H5Acreate2(f.id(), "grid", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
      IBQ_CHECK(a.ok() && H5Awrite(a, H5T_NATIVE_INT64, grid) >= 0, "cannot write the grid attribute");
    });

    const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
    auto tok = tokenizer_metrics(60, 50, /*gan=*/false);
    tok["loss"][37] = nan;  // a window whose loss overflowed
    tok["l1"][12] = inf;
    save(dir + "/tok.h5", "tokenizer", 3000, tok);
    auto gan = tokenizer_metrics(40, 100, /*gan=*/true);
    gan["g_loss"][30] = nan;
    save(dir + "/tok_gan.h5", "tokenizer", 4000, gan);
    save(dir + "/ar.h5", "ar", 5000, ar_metrics(50, 100));

    auto more = ar_metrics(12, 250);
    for (int r = 0; r < 12; ++r) {
      more["grad_norm"].push_back(2.5 * std::exp(-r / 3.0) + 0.4 + 0.05 * noise(r, 14));
      more["perplexity"].push_back(std::exp(more["loss"][std::size_t(r)]));
      more["z_loss"].push_back(0.5 * std::exp(-r / 2.0) + 0.004);  // 0.5 down to 0.005: a log axis
      more["tokens_per_s"].push_back(41000 + 800 * noise(r, 15));
      more["diverged"].push_back(nan);
    }
    more["grad_norm"][4] = inf;
    more.erase("step");  // written below as float32, the way another writer might store it
    save(dir + "/ar_more.h5", "ar", 3000, more, [](ibq::h5::File& f) {
      std::vector<float> steps;
      for (int r = 1; r <= 12; ++r) steps.push_back(float(250 * r));
      f.write("metrics/step", steps, {12});
      f.write("metrics/confusion", std::vector<double>(4, 1.0), {2, 2});
    });
    save(dir + "/empty.h5", "tokenizer", 0, {{"step", {}}, {"loss", {}}, {"lr", {}}});
  } catch (const std::exception& e) {
    std::cerr << "make_inspect_files: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
