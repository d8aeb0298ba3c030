// ibq-train-classifier: trains the small Fashion-MNIST CNN and saves it as an HDF5 checkpoint.
// Thin by design: options in, library calls, one line per epoch, a checkpoint out.
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/progress.hpp"
#include "common/runtime.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/train/classifier.hpp"

namespace {

std::vector<ibq::index_t> parse_list(const std::string& text, const std::string& key) {
  std::vector<ibq::index_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const long v = std::stol(item, &used);
      IBQ_CHECK(v > 0 && used == item.size(), "");
      out.push_back(v);
    } catch (...) {
      IBQ_THROW(key << " must be a comma-separated list of positive integers, got '" << text << "'");
    }
  }
  IBQ_CHECK(!out.empty(), key << " must not be empty");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  const std::string prog = "ibq-train-classifier";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "trains a small CNN on Fashion-MNIST and saves it (params + config) to HDF5");
    opt.add<std::string>("data.dir", "/usr/share/datasets/fashion-mnist", "folder with the gzip'd IDX files")
        .add<long>("data.train_limit", 0, "use only the first N training images (0: all 60000)")
        .add<long>("data.test_limit", 0, "evaluate on the first N test images (0: all 10000)")
        .add<std::string>("model.channels", "32,64,128", "output channels of the conv blocks")
        .add<long>("model.hidden", 128, "width of the feature layer (fc1)")
        .add<int>("train.epochs", 2, "passes over the training set")
        .add<long>("train.batch_size", 128, "images per step")
        .add<double>("train.lr", 2e-3, "peak learning rate (AdamW, cosine decay to 0)")
        .add<double>("train.weight_decay", 0.0, "AdamW decoupled weight decay")
        .add<unsigned long>("train.seed", 1, "initialisation and data-order seed")
        .add<std::string>("train.precision", "fp32", "fp32, or bf16: mixed precision as torch.autocast (bf16 products, fp32 weights and sums)")
        .add<std::string>("output.path", "runs/fashion_mnist_classifier.h5", "checkpoint to write")
        .add<bool>("output.overwrite", false, "replace an existing file at output.path")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)")
        .add<bool>("runtime.tf32", false, ibq::cli::kTf32Help);
    const auto args = opt.parse(argc, argv);

    ibq::ClassifierConfig model;
    model.channels = parse_list(args.get<std::string>("model.channels"), "model.channels");
    model.hidden = args.get<long>("model.hidden");
    ibq::ClassifierTrainConfig train;
    train.epochs = args.get<int>("train.epochs");
    train.batch_size = args.get<long>("train.batch_size");
    train.lr = args.get<double>("train.lr");
    train.weight_decay = args.get<double>("train.weight_decay");
    train.seed = args.get<unsigned long>("train.seed");
    train.precision = ibq::parse_precision(args.get<std::string>("train.precision"));
    IBQ_CHECK(train.epochs > 0, "train.epochs must be positive, got " << train.epochs);
    IBQ_CHECK(train.lr > 0 && std::isfinite(train.lr), "train.lr must be a positive number, got " << train.lr);
    IBQ_CHECK(model.hidden > 0, "model.hidden must be positive");

    // Refuse to clobber a previous result unless asked; check before spending minutes training.
    const std::string out = args.get<std::string>("output.path");
    IBQ_CHECK(!std::filesystem::exists(out) || args.get<bool>("output.overwrite"),
              "output.path '" << out << "' exists; pass --output.overwrite=true or choose another --output.path");
    const auto parent = std::filesystem::path(out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);

    ibq::cli::apply_tf32(args);
    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    runtime.require_single_process(prog);
    std::cerr << prog << ": " << ibq::cli::Runtime::describe() << "; " << ibq::cli::Runtime::describe(train.precision)
              << "\n";
    auto train_set = ibq::load_fashion_mnist(args.get<std::string>("data.dir"), "train");
    auto test_set = ibq::load_fashion_mnist(args.get<std::string>("data.dir"), "test");
    train_set.truncate(args.get<long>("data.train_limit"));
    test_set.truncate(args.get<long>("data.test_limit"));
    std::cerr << prog << ": " << train_set.count << " training and " << test_set.count << " test images\n";

    ibq::Classifier<float> net(model, train.seed);
    std::cerr << prog << ": " << net.store().num_params() << " parameters\n";
    std::unique_ptr<ibq::cli::Progress> bar;
    double loss_avg = 0;
    auto result = ibq::train_classifier(net, train_set, test_set, train, [&](const ibq::TrainEvent& e) {
      if (e.step == 1 && !e.epoch_end) {
        bar = std::make_unique<ibq::cli::Progress>("epoch " + std::to_string(e.epoch + 1) + "/" +
                                                       std::to_string(train.epochs),
                                                   e.steps_per_epoch);
        loss_avg = e.loss;
      }
      std::ostringstream status;
      if (e.epoch_end) {
        status << std::fixed << std::setprecision(4) << "train loss " << e.loss << " test accuracy " << e.test_accuracy;
        bar->finish(status.str());
      } else {
        loss_avg = 0.98 * loss_avg + 0.02 * e.loss;
        status << std::fixed << std::setprecision(4) << "loss " << loss_avg;
        bar->update(e.step, status.str());
      }
    });

    ibq::CheckpointMeta meta{"classifier", result.steps, train.epochs, args.resolved_ini(), 1};
    ibq::save_checkpoint(out, meta, net.store(), static_cast<const ibq::Adam<float>*>(nullptr), result.metrics);
    std::cout << std::fixed << std::setprecision(4) << "test accuracy " << result.test_accuracy << " ("
              << test_set.count << " images) after " << train.epochs << " epochs; model saved to " << out << "\n";
    return 0;
  });
}
