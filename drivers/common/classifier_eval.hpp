// drivers/common/classifier_eval.hpp — the order-1 Fashion-MNIST classifier as a judge of generated or
// reconstructed images: its penultimate features (fc1 after ReLU, `model.hidden` values) for Fréchet
// distances, its softmax for the Inception-Score analogue, and its argmax for class accuracy.
//
//   ibq::cli::Judge judge(prog, "runs/fashion_mnist_classifier.h5");
//   auto out = judge.score(pixels, n, 32, 1);   // uint8 NHWC; out.features [n, hidden], out.probs [n, 10]
//
// Images larger than the classifier's 28x28 are centre-cropped (the tokenizers see Fashion-MNIST padded
// with zeros to 32x32, so the crop gives back the original frame), then normalised with the statistics the
// classifier was trained with. Batches of 500 bound the memory whatever the number of images.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/tokenizer_options.hpp"  // parse_int_list
#include "ibq/autodiff/tape.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/models/classifier.hpp"
#include "ibq/data/image_set.hpp"

namespace ibq::cli {

class Judge {
 public:
  struct Scores {
    std::vector<float> features, probs;  // [n, hidden], [n, classes]
    index_t dim = 0, classes = 0;
    // Adds another batch's scores (images scored batch by batch, as they are made).
    void append(const Scores& o) {
      dim = o.dim, classes = o.classes;
      features.insert(features.end(), o.features.begin(), o.features.end());
      probs.insert(probs.end(), o.probs.begin(), o.probs.end());
    }
    // The fraction of images whose argmax is their label.
    double accuracy(const std::vector<std::int32_t>& labels) const {
      const index_t n = index_t(labels.size());
      index_t right = 0;
      for (index_t i = 0; i < n; ++i) {
        const float* row = probs.data() + i * classes;
        right += std::max_element(row, row + classes) - row == labels[std::size_t(i)];
      }
      return n > 0 ? double(right) / double(n) : 0.0;
    }
  };

  Judge(const std::string& prog, const std::string& path) : path_(path) {
    IBQ_CHECK(std::filesystem::exists(path), "eval.classifier '" << path << "' does not exist; train one with "
                                             "ibq-train-classifier --config experiments/fashion_mnist_classifier.ini");
    Options stored_opt(prog, "");
    stored_opt.add<std::string>("model.channels", "32,64,128", "").add<long>("model.hidden", 128, "");
    const auto stored = stored_opt.parse_text(h5::File(path, h5::File::Mode::read).attr_string("/", "config"),
                                              "'" + path + "'");
    cfg_.channels.clear();
    for (long c : parse_int_list(stored.get<std::string>("model.channels"), "model.channels")) cfg_.channels.push_back(c);
    cfg_.hidden = stored.get<long>("model.hidden");
    net_ = std::make_unique<Classifier<float>>(cfg_, 0);
    load_checkpoint(path, "classifier", net_->store());
  }

  const std::string& path() const { return path_; }
  const ClassifierConfig& config() const { return cfg_; }

  Scores score(const std::vector<std::uint8_t>& pixels, index_t n, index_t R, index_t C) const {
    const index_t S = cfg_.image_size;
    IBQ_CHECK(C == cfg_.in_channels && R >= S, "eval.classifier '" << path_ << "' takes " << cfg_.in_channels << "-channel "
                                                                 << S << "x" << S << " images; these are " << C
                                                                 << "-channel " << R << "x" << R);
    IBQ_CHECK(pixels.size() == std::size_t(n * R * R * C), "Judge: " << pixels.size() << " bytes are not " << n << " images of "
                                                                     << R << "x" << R << "x" << C);
    Scores out;
    out.dim = cfg_.hidden, out.classes = cfg_.num_classes;
    const index_t off = (R - S) / 2;
    for (index_t first = 0; first < n; first += batch_) {
      const index_t m = std::min(batch_, n - first);
      std::vector<float> x(std::size_t(m * S * S));
      for (index_t i = 0; i < m; ++i)
        for (index_t r = 0; r < S; ++r)
          for (index_t c = 0; c < S; ++c)
            x[std::size_t((i * S + r) * S + c)] =
                float((pixels[std::size_t(((first + i) * R + r + off) * R + c + off)] / 255.0 - fashion_mnist_mean) /
                      fashion_mnist_std);
      Tape<float> tape;
      auto guard = tape.no_grad();
      const auto y = net_->forward(tape.leaf(Tensor<float>::from_host(Shape{m, 1, S, S}, x)), false);
      const auto f = y.features.value().to_host();
      const auto logits = y.logits.value().to_host();
      out.features.insert(out.features.end(), f.begin(), f.end());
      for (index_t i = 0; i < m; ++i) {  // softmax in double: the IS takes logs of small probabilities
        const float* row = logits.data() + i * out.classes;
        const double top = *std::max_element(row, row + out.classes);
        double sum = 0;
        for (index_t k = 0; k < out.classes; ++k) sum += std::exp(double(row[k]) - top);
        for (index_t k = 0; k < out.classes; ++k) out.probs.push_back(float(std::exp(double(row[k]) - top) / sum));
      }
    }
    return out;
  }

 private:
  std::string path_;
  ClassifierConfig cfg_;
  std::unique_ptr<Classifier<float>> net_;
  index_t batch_ = 500;
};

}  // namespace ibq::cli
