// drivers/common/tokenizer_options.hpp — the [data], [model] and [quant] options every tokenizer driver
// shares, and their conversion to library configs. ibq-train-tokenizer stores the resolved INI in each
// checkpoint; ibq-reconstruct (and later ibq-tokenize) rebuild the same model from it.
//
// Defaults are the reference ImageNet recipe (docs/math.md), so a config file only
// lists what differs from the paper.
#pragma once

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "ibq/data/crop.hpp"
#include "ibq/data/image_set.hpp"
#include "ibq/io/checkpoint.hpp"
#include "ibq/io/image_shard.hpp"
#include "ibq/io/shard_names.hpp"
#include "ibq/models/tokenizer.hpp"
#include "ibq/optim/adam.hpp"

namespace ibq::cli {

// "1,1,2" -> {1, 1, 2}; empty text -> {} when allow_empty; values >= min_value (1 unless told).
inline std::vector<long> parse_int_list(const std::string& text, const std::string& key, bool allow_empty = false,
                                        long min_value = 1) {
  std::vector<long> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    try {
      std::size_t used = 0;
      const long v = std::stol(item, &used);
      IBQ_CHECK(used == item.size() && v >= min_value, "");
      out.push_back(v);
    } catch (...) {
      IBQ_THROW(key << " must be a comma-separated list of integers >= " << min_value << ", got '" << text << "'");
    }
  }
  IBQ_CHECK(allow_empty || !out.empty(), key << " must not be empty");
  return out;
}

inline void add_data_options(Options& opt) {
  opt.add<std::string>("data.source", "fashion-mnist", "fashion-mnist (Debian's IDX files) or shards (HDF5 image shards)")
      .add<std::string>("data.dir", "/usr/share/datasets/fashion-mnist", "fashion-mnist: folder with the gzip'd IDX files")
      .add<std::string>("data.train", "", "shards: comma-separated shard files or ibq-prepare-data output names (OUT.h5 -> OUT-*.h5)")
      .add<std::string>("data.test", "", "shards: test/validation shards, as data.train")
      .add<bool>("data.preload", false, "shards: read every image into memory first (faster for small sets) instead "
                                        "of reading each batch from the files")
      .add<long>("data.pad_to", 32, "fashion-mnist: zero-pad the 28x28 images to this size (0: keep 28)")
      .add<long>("data.channels", 1, "fashion-mnist: 1, or 3 to replicate the gray channel")
      .add<std::string>("data.crop", "random",
                        "training crops of model.resolution: random (a new one per image and epoch, as the "
                        "reference) or center; test images always take the centre crop")
      .add<bool>("data.flip", false, "random crops: mirror left-right with probability 1/2 (the reference does not)")
      .add<bool>("data.read_ahead", true, "read the next step's images on a background thread while a step runs")
      .add<long>("data.train_limit", 0, "use only the first N training images (0: all)")
      .add<long>("data.test_limit", 0, "use only the first N test images (0: all)");
}

inline void add_model_options(Options& opt) {
  opt.add<std::string>("model.quantizer", "ibq", "ibq (index backpropagation) or vq (the VQGAN baseline)")
      .add<long>("model.ch", 128, "base channel count")
      .add<std::string>("model.ch_mult", "1,1,2,2,4", "channel multiplier per level (one halving per level after the first)")
      .add<long>("model.num_res_blocks", 4, "ResnetBlocks per encoder level (the decoder has one more)")
      .add<std::string>("model.attn_resolutions", "16", "resolutions with attention after each block (empty: none)")
      .add<long>("model.z_channels", 256, "encoder output / decoder input channels")
      .add<long>("model.in_channels", 3, "image channels in")
      .add<long>("model.out_ch", 3, "image channels out")
      .add<long>("model.resolution", 256, "image size")
      .add<double>("model.dropout", 0.0, "dropout inside the ResnetBlocks")
      .add<int>("model.norm_groups", 32, "GroupNorm groups")
      .add<long>("model.codebook_size", 16384, "K, the number of codes")
      .add<long>("model.embed_dim", 256, "D, the code dimension (quant_conv output)")
      .add<double>("quant.beta", 0.25, "weight of the beta term of the quantization loss")
      .add<bool>("quant.beta_on_codebook", true,
                 "true: beta on the codebook term, as the released code; false: on the commitment term (paper Eq. 10)")
      .add<bool>("quant.double_quant", true, "IBQ: keep the mean((sg z_q2 - z)^2) term (false: ablation)")
      .add<bool>("quant.use_entropy", true, "IBQ: compute the entropy loss")
      .add<double>("quant.entropy_temperature", 0.01, "IBQ: temperature of the entropy loss's softmax")
      .add<double>("quant.sample_entropy_weight", 1.0, "IBQ: weight of the per-sample entropy (minimised)")
      .add<double>("quant.batch_entropy_weight", 1.0, "IBQ: weight of the batch-average entropy (maximised)")
      .add<bool>("quant.fused", true,
                 "IBQ: fused tiles of logits, no N x K tensor (false: the plain reference path, several N x K tensors)")
      .add<long>("quant.fused_block_rows", 0, "IBQ fused: rows of logits per tile (0: automatic, about 2^21 logits)")
      .add<bool>("quant.vq_legacy", true, "VQ: beta on the codebook term (taming's default)")
      .add<bool>("quant.vq_l2_normalize", false, "VQ: normalise z and codes for the distance only");
}

inline TokenizerConfig tokenizer_config(const Args& a) {
  TokenizerConfig c;
  c.quantizer = parse_quantizer_kind(a.get<std::string>("model.quantizer"));
  auto& ae = c.ae;
  ae.ch = a.get<long>("model.ch");
  ae.ch_mult.clear();
  for (long v : parse_int_list(a.get<std::string>("model.ch_mult"), "model.ch_mult")) ae.ch_mult.push_back(v);
  ae.num_res_blocks = a.get<long>("model.num_res_blocks");
  ae.attn_resolutions.clear();
  for (long v : parse_int_list(a.get<std::string>("model.attn_resolutions"), "model.attn_resolutions", true))
    ae.attn_resolutions.push_back(v);
  ae.z_channels = a.get<long>("model.z_channels");
  ae.in_channels = a.get<long>("model.in_channels");
  ae.out_ch = a.get<long>("model.out_ch");
  ae.resolution = a.get<long>("model.resolution");
  ae.dropout = a.get<double>("model.dropout");
  ae.norm_groups = a.get<int>("model.norm_groups");
  c.codebook_size = a.get<long>("model.codebook_size");
  c.embed_dim = a.get<long>("model.embed_dim");
  IBQ_CHECK(c.codebook_size > 1 && c.embed_dim > 0, "model.codebook_size must be > 1 and model.embed_dim > 0");
  c.ibq.beta = c.vq.beta = a.get<double>("quant.beta");
  c.ibq.beta_on_codebook = a.get<bool>("quant.beta_on_codebook");
  c.ibq.double_quant = a.get<bool>("quant.double_quant");
  c.ibq.use_entropy = a.get<bool>("quant.use_entropy");
  c.ibq.entropy_temperature = a.get<double>("quant.entropy_temperature");
  c.ibq.sample_entropy_weight = a.get<double>("quant.sample_entropy_weight");
  c.ibq.batch_entropy_weight = a.get<double>("quant.batch_entropy_weight");
  c.ibq.fused = a.get<bool>("quant.fused");
  c.ibq.fused_block_rows = a.get<long>("quant.fused_block_rows");
  IBQ_CHECK(c.ibq.fused_block_rows >= 0, "quant.fused_block_rows must be >= 0 (0: automatic), got "
                                             << c.ibq.fused_block_rows);
  c.vq.legacy = a.get<bool>("quant.vq_legacy");
  c.vq.l2_normalize = a.get<bool>("quant.vq_l2_normalize");
  ae.validate();
  return c;
}

// Images from HDF5 shards: `list` is comma-separated shard files or ibq-prepare-data base names
// (OUT.h5 -> OUT-00000.h5, ...); `key` names the option in errors. Read a batch at a time, or all at once.
inline std::unique_ptr<ImageSource> open_shard_images(const std::string& list, const std::string& key, bool preload) {
  std::vector<std::string> files;
  std::stringstream ss(list);
  for (std::string f; std::getline(ss, f, ',');) {
    if (f.empty()) continue;
    const auto shards = std::filesystem::exists(f) ? std::vector<std::string>{f} : list_shards(f);
    IBQ_CHECK(!shards.empty(), key << ": neither '" << f << "' nor its shards '" << shard_path(f, 0)
                                   << "', ... exist; make them with ibq-prepare-data");
    files.insert(files.end(), shards.begin(), shards.end());
  }
  IBQ_CHECK(!files.empty(), key << " lists no shard files; make them with ibq-prepare-data and list them here");
  auto streamed = std::make_unique<ShardedImages>(files);  // checks that every shard has one geometry
  if (!preload) return streamed;
  auto mem = std::make_unique<ImageSet>();
  mem->count = streamed->count, mem->channels = streamed->channels;
  mem->height = streamed->height, mem->width = streamed->width;
  mem->pixels.resize(std::size_t(mem->count * mem->image_size()));
  mem->labels.resize(std::size_t(mem->count));
  std::vector<index_t> rows(std::size_t(mem->count));
  for (index_t i = 0; i < mem->count; ++i) rows[std::size_t(i)] = i;
  streamed->gather(rows.data(), mem->count, mem->pixels.data(), mem->labels.data());
  for (index_t i = 0; i < mem->count && streamed->ragged(); ++i) {
    const auto [h, w] = streamed->extent(i);
    mem->extents.push_back(std::int32_t(h));
    mem->extents.push_back(std::int32_t(w));
  }
  return mem;
}

// How training images are cropped to the model's resolution (data.crop, data.flip; keyed by train.seed).
inline CropPolicy training_crop(const Args& a, std::uint64_t seed) {
  return {parse_crop_mode(a.get<std::string>("data.crop"), "data.crop"), a.get<bool>("data.flip"), seed};
}

// `set` cropped to the model's input (model.resolution): by `crop` (training), else the centre crop.
inline std::unique_ptr<ImageSource> crop_to_model(const Args& a, std::unique_ptr<ImageSource> set,
                                                  const CropPolicy* crop) {
  const index_t r = a.get<long>("model.resolution");
  return crop_images(std::move(set), r, r, crop ? *crop : CropPolicy{});
}

// "random 256x256 crops of 256x341 images" or "whole images": what a run trains on, for its start-up line.
inline std::string describe_crops(const ImageSource& set) {
  const auto* c = dynamic_cast<const CroppedImages*>(&set);
  if (!c) return "whole images";
  std::ostringstream os;
  os << crop_mode_name(c->policy().mode) << " crops of " << c->stored().height << "x" << c->stored().width
     << (c->stored().ragged() ? " (or smaller, aspect kept)" : "") << " images"
     << (c->policy().flip && c->policy().mode == CropMode::random ? ", mirrored half the time" : "");
  return os.str();
}

// The training or test split in [-1, 1], shaped as the model expects: in memory (Fashion-MNIST, or shards
// with data.preload) or read from the shards a batch at a time, cropped by `crop` (training) or at the
// centre.
inline std::unique_ptr<ImageSource> load_tokenizer_images(const Args& a, const std::string& split,
                                                          const CropPolicy* crop = nullptr) {
  const std::string source = a.get<std::string>("data.source");
  std::unique_ptr<ImageSource> set;
  if (source == "fashion-mnist") {
    auto mem = std::make_unique<ImageSet>(load_fashion_mnist(a.get<std::string>("data.dir"), split));
    const long pad = a.get<long>("data.pad_to"), channels = a.get<long>("data.channels");
    if (pad > 0) *mem = pad_images(*mem, pad);
    IBQ_CHECK(channels == 1 || channels == 3, "data.channels must be 1 or 3, got " << channels);
    if (channels == 3) *mem = replicate_channels(*mem, 3);
    set = std::move(mem);
  } else if (source == "shards") {
    const std::string key = split == "train" ? "data.train" : "data.test";
    set = open_shard_images(a.get<std::string>(key), key, a.get<bool>("data.preload"));
  } else {
    IBQ_THROW("data.source = '" << source << "' is not a data source; use fashion-mnist or shards");
  }
  scale_to_unit_range(*set);
  set->truncate(a.get<long>(split == "train" ? "data.train_limit" : "data.test_limit"));
  return crop_to_model(a, std::move(set), crop);
}

// The images a tokenizer is evaluated on: `images` (shards, the data.images option of ibq-reconstruct and
// ibq-eval; needed for imported checkpoints, which store no data) when given, else the split stored in the
// checkpoint's configuration. In [-1, 1], limited to the first `limit` (0: all).
inline std::unique_ptr<ImageSource> evaluation_images(const Args& stored, const std::string& split,
                                                      const std::string& images, long limit) {
  if (images.empty()) {
    IBQ_CHECK(stored.get<std::string>("data.source") != "shards" ||
                  !stored.get<std::string>(split == "train" ? "data.train" : "data.test").empty(),
              "the checkpoint names no " << split << " images (an imported checkpoint?): give them with "
                                         "--data.images=SHARDS (ibq-prepare-data's output)");
    auto set = load_tokenizer_images(stored, split);
    set->truncate(limit);
    return set;
  }
  auto set = open_shard_images(images, "data.images", false);
  scale_to_unit_range(*set);
  set->truncate(limit);
  return crop_to_model(stored, std::move(set), nullptr);
}

// A tokenizer rebuilt from a checkpoint: the model and data options from the configuration stored in it
// (so images are prepared exactly as in training), and its EMA weights (the reference's evaluation
// weights) or its raw parameters.
struct CheckpointTokenizer {
  Args stored;
  TokenizerConfig config;
  std::unique_ptr<Tokenizer<float>> model;
};

inline CheckpointTokenizer load_checkpoint_tokenizer(const std::string& prog, const std::string& ckpt,
                                                     const std::string& weights) {
  IBQ_CHECK(!ckpt.empty(), "input.checkpoint is required (a ckpt-*.h5 file written by ibq-train-tokenizer)");
  IBQ_CHECK(std::filesystem::exists(ckpt), "input.checkpoint '" << ckpt << "' does not exist");
  IBQ_CHECK(weights == "ema" || weights == "params", "input.weights must be ema or params, got '" << weights << "'");
  Options stored_opt(prog, "");
  add_data_options(stored_opt);
  add_model_options(stored_opt);
  CheckpointTokenizer t{stored_opt.parse_text(h5::File(ckpt, h5::File::Mode::read).attr_string("/", "config"),
                                              "'" + ckpt + "'"),
                        {}, nullptr};
  t.config = tokenizer_config(t.stored);
  t.model = std::make_unique<Tokenizer<float>>(t.config, 0);
  Tensor<float> ema({t.model->store().num_params()});
  load_checkpoint(ckpt, "tokenizer", t.model->store(), static_cast<Adam<float>*>(nullptr),
                  weights == "ema" ? &ema : nullptr);
  if (weights == "ema") {
    t.model->store().flat_values().copy_from_(ema);
    t.model->store().mark_values_modified();
  }
  return t;
}

}  // namespace ibq::cli
