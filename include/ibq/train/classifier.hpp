// ibq/train/classifier.hpp — the classifier's training and evaluation loops (drivers stay thin).
//
//   ibq::Classifier<float> net(model_cfg, seed);
//   auto result = ibq::train_classifier(net, train_set, test_set, train_cfg,
//                                       [](const ibq::TrainEvent& e) { /* progress */ });
//
// Adam with a cosine learning-rate decay over all steps, cross-entropy on mini-batches drawn by a
// (seed, epoch) permutation; evaluation runs in no-grad mode with BatchNorm's running statistics.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <vector>

#include "ibq/core/precision.hpp"
#include "ibq/data/image_set.hpp"
#include "ibq/models/classifier.hpp"
#include "ibq/ops/reduce.hpp"
#include "ibq/ops/softmax.hpp"
#include "ibq/optim/adam.hpp"
#include "ibq/optim/schedule.hpp"

namespace ibq {

struct ClassifierTrainConfig {
  int epochs = 2;
  index_t batch_size = 128;
  double lr = 2e-3;
  double weight_decay = 0.0;
  std::uint64_t seed = 1;
  index_t eval_batch_size = 1000;
  Precision precision = Precision::fp32;  // bf16: autocast's products (core/precision.hpp)
};

struct TrainEvent {
  int epoch;          // 0-based
  long step, steps_per_epoch;
  double loss;        // this step's loss
  bool epoch_end;     // after the epoch's evaluation: test_accuracy is set
  double test_accuracy;
};

struct ClassifierResult {
  double test_accuracy = 0;
  long steps = 0;
  std::map<std::string, std::vector<double>> metrics;  // per-epoch series, stored in the checkpoint
};

template <class T, class Space>
double evaluate_classifier(const Classifier<T, Space>& net, const ImageSet& set, index_t batch_size) {
  std::vector<index_t> order(set.count);
  for (index_t i = 0; i < set.count; ++i) order[i] = i;
  index_t correct = 0;
  for (index_t first = 0; first < set.count; first += batch_size) {
    const index_t n = std::min(batch_size, set.count - first);
    Tape<T, Space> tape;
    auto guard = tape.no_grad();
    auto out = net.forward(tape.leaf(set.batch<T, Space>(order, first, n)), /*training=*/false);
    const auto pred = argmax(out.logits.value(), 1).to_host();
    for (index_t b = 0; b < n; ++b) correct += pred[b] == set.labels[first + b];
  }
  return set.count ? double(correct) / double(set.count) : 0.0;
}

template <class T, class Space>
ClassifierResult train_classifier(Classifier<T, Space>& net, const ImageSet& train, const ImageSet& test,
                                  const ClassifierTrainConfig& cfg, const std::function<void(const TrainEvent&)>& on_event) {
  IBQ_CHECK(cfg.batch_size > 0 && cfg.batch_size <= train.count,
            "train.batch_size must be in [1, " << train.count << "], got " << cfg.batch_size);
  auto& store = net.store();
  AdamConfig ac;
  ac.lr = cfg.lr;
  ac.weight_decay = cfg.weight_decay;
  ac.decoupled_weight_decay = true;
  Adam<T, Space> opt(store, ac);
  const long per_epoch = long(train.count / cfg.batch_size);  // drop the ragged last batch: BN needs full batches
  const long total = per_epoch * cfg.epochs;
  ClassifierResult res;
  for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
    const auto order = train.epoch_order(cfg.seed, std::uint64_t(epoch));
    double loss_sum = 0;
    for (long s = 0; s < per_epoch; ++s) {
      opt.set_lr(cosine_lr(cfg.lr, res.steps, total));
      Tape<T, Space> tape;
      auto x = tape.leaf(train.batch<T, Space>(order, s * cfg.batch_size, cfg.batch_size));
      auto labels = train.batch_labels<Space>(order, s * cfg.batch_size, cfg.batch_size);
      Var<T, Space> loss;
      {
        const Autocast autocast(cfg.precision);
        loss = cross_entropy(net.forward(x, /*training=*/true).logits, labels);
      }
      const double l = double(loss.value().item());
      IBQ_CHECK(std::isfinite(l), "classifier training diverged: loss is " << l << " at epoch " << epoch + 1 << " step "
                                                                           << s + 1 << "; lower train.lr");
      tape.backward(loss);
      tape.clear();
      opt.step();
      store.zero_grad();
      ++res.steps;
      loss_sum += l;
      if (on_event) on_event({epoch, s + 1, per_epoch, l, false, 0.0});
    }
    res.test_accuracy = evaluate_classifier(net, test, cfg.eval_batch_size);
    res.metrics["train_loss"].push_back(loss_sum / double(per_epoch));
    res.metrics["test_accuracy"].push_back(res.test_accuracy);
    if (on_event) on_event({epoch, per_epoch, per_epoch, loss_sum / double(per_epoch), true, res.test_accuracy});
  }
  return res;
}

}  // namespace ibq
