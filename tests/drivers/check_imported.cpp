// check_imported — the imported SEED-Voken models against what PyTorch computed with the same weights
// (tests/reference/seed_voken_reference.py's expected.h5), loaded exactly as the drivers load them.
//
//   check_imported tokenizer TOK.h5 EXPECTED.h5 ema|params   # tokens equal, reconstructions within 1e-4
//   check_imported ar AR.h5 EXPECTED.h5                      # logits within 1e-4
//   check_imported count TOK.h5                              # loads it as the drivers do; prints the size
//
// "Within 1e-4" is relative to the reference's scale: max |ibq - torch| / max |torch| over the whole
// tensor (the reference ran in float64 on the float32 weights; ibq runs in float32). Exit 1, with the
// numbers, when anything differs.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/ar_options.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/io/checkpoint.hpp"

namespace {

double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(double(got[i]) - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return diff / scale;
}

bool report(const char* what, double err, double tol) {
  std::printf("%s: max |ibq - torch| / max |torch| = %.3g (tolerance %.0e)\n", what, err, tol);
  return err <= tol;
}

int check_tokenizer(const std::string& ckpt, const std::string& expected, const std::string& weights) {
  const auto t = ibq::cli::load_checkpoint_tokenizer("check_imported", ckpt, weights);
  ibq::h5::File f(expected, ibq::h5::File::Mode::read);
  const auto dims = f.dims("x");
  const ibq::Shape xs = ibq::Shape::from_range(dims.begin(), dims.end());
  std::vector<float> x;
  for (double v : f.read<double>("x")) x.push_back(float(v));
  const auto tokens = t.model->encode(ibq::Tensor<float>::from_host(xs, x));
  const auto got_tokens = tokens.to_host();
  const auto want_tokens = f.read<std::int32_t>(weights + "/tokens");
  std::size_t same = 0;
  for (std::size_t i = 0; i < want_tokens.size(); ++i) same += got_tokens[i] == want_tokens[i];
  std::printf("%s weights: %zu of %zu tokens equal PyTorch's\n", weights.c_str(), same, want_tokens.size());
  const auto recon = t.model->decode(tokens).to_host();
  const bool ok = report((weights + " weights, reconstruction").c_str(),
                         relative_error(recon, f.read<double>(weights + "/recon")), 1e-4);
  return ok && same == want_tokens.size() ? 0 : 1;
}

int check_ar(const std::string& ckpt, const std::string& expected) {
  ibq::cli::Options stored_opt("check_imported", "");
  stored_opt.add<std::string>("data.tokens", "", "");
  ibq::cli::add_ar_model_options(stored_opt);
  const auto stored = stored_opt.parse_text(ibq::h5::File(ckpt, ibq::h5::File::Mode::read).attr_string("/", "config"),
                                            "'" + ckpt + "'");
  ibq::ArTransformer<float> model(ibq::cli::ar_model_config(stored), 0);
  ibq::load_checkpoint(ckpt, "ar", model.store());
  ibq::h5::File f(expected, ibq::h5::File::Mode::read);
  const auto tokens = f.read<std::int32_t>("ar/tokens");
  const auto labels = f.read<std::int32_t>("ar/labels");
  const auto td = f.dims("ar/tokens");
  const ibq::index_t B = ibq::index_t(td[0]), n = ibq::index_t(td[1]) - 1;
  std::vector<std::int32_t> inputs;
  for (ibq::index_t b = 0; b < B; ++b)
    inputs.insert(inputs.end(), tokens.begin() + b * (n + 1), tokens.begin() + b * (n + 1) + n);
  ibq::Tape<float> tape;
  auto guard = tape.no_grad();
  const auto logits = model
                          .forward(tape, ibq::Tensor<std::int32_t>::from_host(ibq::Shape{B, n}, inputs),
                                   ibq::Tensor<std::int32_t>::from_host(ibq::Shape{B}, labels), false, ibq::Rng{})
                          .value()
                          .to_host();
  return report("AR logits", relative_error(logits, f.read<double>("ar/logits")), 1e-4) ? 0 : 1;
}

int count_tokenizer(const std::string& ckpt) {
  const auto t = ibq::cli::load_checkpoint_tokenizer("check_imported", ckpt, "ema");
  std::printf("%s loads as a tokenizer of %lld parameters (K = %lld)\n", ckpt.c_str(),
              static_cast<long long>(t.model->store().num_params()), static_cast<long long>(t.config.codebook_size));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "tokenizer" && argc == 5) || (mode == "ar" && argc == 4) || (mode == "count" && argc == 3))) {
    std::fprintf(stderr, "usage: check_imported tokenizer TOK.h5 EXPECTED.h5 ema|params\n"
                         "       check_imported ar AR.h5 EXPECTED.h5\n"
                         "       check_imported count TOK.h5\n");
    return 2;
  }
  Kokkos::ScopeGuard kokkos(argc, argv);
  try {
    if (mode == "count") return count_tokenizer(argv[2]);
    return mode == "tokenizer" ? check_tokenizer(argv[2], argv[3], argv[4]) : check_ar(argv[2], argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "check_imported: %s\n", e.what());
    return 1;
  }
}
