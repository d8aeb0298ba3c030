// ibq-tokenize: encodes an image set with a tokenizer checkpoint (EMA weights) into an HDF5 token dataset.
//
//   ibq-tokenize --input.checkpoint runs/quickstart/ckpt-00001800.h5 --output.path runs/quickstart/tokens-train.h5
//   mpirun -np 4 ibq-tokenize ... --output.shard_size=20000       # tokens-train-00000.h5, -00001.h5, ...
//
// The data options come from the configuration stored in the checkpoint, so the images are prepared as in
// training. The file holds tokens int32 [N, h, w] and labels int32 [N] in the set's order, with the
// codebook size, the grid, the checkpoint's path and SHA-256, the source and the tokenizer's configuration
// (ibq/io/token_dataset.hpp). Under mpirun each rank encodes its block of every round of batches and
// rank 0 gathers and writes them. Files are written to a temporary name and renamed when complete;
// output.append=true adds the images to an existing dataset of the same tokenizer (copied, then renamed).
// With data.crops = V it also encodes V random crops of every image (crop j of image i is the training
// crop of "epoch" j under data.crop_seed), into crop_tokens [N, V, h, w]: ibq-train-ar draws one of them per
// image and epoch, as the reference encodes a new random crop of each image every epoch.
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/progress.hpp"
#include "common/runtime.hpp"
#include "common/tokenizer_options.hpp"
#include "ibq/io/sha256.hpp"
#include "ibq/io/token_dataset.hpp"

namespace fs = std::filesystem;

namespace {
std::string shard_path(const std::string& path, long index) {
  const fs::path p(path);
  std::ostringstream s;
  s << (p.parent_path() / p.stem()).string() << "-" << std::setw(5) << std::setfill('0') << index << p.extension().string();
  return s.str();
}
}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  const std::string prog = "ibq-tokenize";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "encodes an image set into an HDF5 token dataset with a tokenizer checkpoint");
    opt.add<std::string>("input.checkpoint", "", "tokenizer checkpoint (ibq-train-tokenizer's ckpt-*.h5)")
        .add<std::string>("input.weights", "ema", "ema (the reference's evaluation weights) or params")
        .add<std::string>("data.split", "train", "train or test")
        .add<long>("data.limit", 0, "encode only the first N images (0: the whole split)")
        .add<long>("data.crops", 0, "random crops encoded per image besides the centre crop, for ibq-train-ar "
                                    "(0: the centre crop only)")
        .add<unsigned long>("data.crop_seed", 1, "seed of the random crops")
        .add<long>("eval.batch_size", 100, "images per forward pass, per rank")
        .add<std::string>("output.path", "", "token dataset file (.h5)")
        .add<long>("output.shard_size", 0, "images per file: <path stem>-00000.h5, -00001.h5, ... (0: one file)")
        .add<bool>("output.append", false, "append to an existing output.path of the same tokenizer")
        .add<bool>("output.overwrite", false, "replace existing output files")
        .add<int>("runtime.threads", 0, "CPU threads (0: OMP_NUM_THREADS or all cores)")
        .add<bool>("runtime.tf32", false, ibq::cli::kTf32Help)
        .add<std::string>("runtime.precision", "fp32",
                          "fp32, or bf16: products on bf16 operands with fp32 sums (as torch.autocast)");
    const auto args = opt.parse(argc, argv);
    const std::string ckpt = args.get<std::string>("input.checkpoint");
    const std::string out_path = args.get<std::string>("output.path");
    const std::string split = args.get<std::string>("data.split");
    const long batch = args.get<long>("eval.batch_size"), shard_size = args.get<long>("output.shard_size");
    const bool append = args.get<bool>("output.append"), overwrite = args.get<bool>("output.overwrite");
    IBQ_CHECK(!out_path.empty(), "output.path is required (the token dataset to write, e.g. tokens-train.h5)");
    IBQ_CHECK(split == "test" || split == "train", "data.split must be test or train, got '" << split << "'");
    IBQ_CHECK(batch > 0 && shard_size >= 0, "eval.batch_size must be positive and output.shard_size >= 0");
    const long crops = args.get<long>("data.crops");
    IBQ_CHECK(crops >= 0 && crops <= 1024, "data.crops must be in 0..1024, got " << crops);
    IBQ_CHECK(!(append && shard_size > 0), "output.append and output.shard_size exclude each other: write new shards "
                                           "with another output.path instead");
    if (append)
      IBQ_CHECK(fs::exists(out_path), "output.append: '" << out_path << "' does not exist (drop output.append to create it)");
    else if (!overwrite) {
      const std::string first = shard_size > 0 ? shard_path(out_path, 0) : out_path;
      IBQ_CHECK(!fs::exists(first), "'" << first << "' exists; pass --output.overwrite=true to replace it, "
                                        << "--output.append=true to add to it, or choose another output.path");
    }

    ibq::cli::apply_tf32(args);
    ibq::cli::Runtime runtime(args.get<int>("runtime.threads"));
    const auto& comm = runtime.comm();
    const auto precision = ibq::parse_precision(args.get<std::string>("runtime.precision"), "runtime.precision");
    const ibq::Autocast autocast(precision);  // every encoder pass below
    std::cerr << prog << ": " << ibq::cli::Runtime::describe() << "; " << ibq::cli::Runtime::describe(precision)
              << "\n";
    const auto loaded = ibq::cli::load_checkpoint_tokenizer(prog, ckpt, args.get<std::string>("input.weights"));
    const auto source = ibq::cli::load_tokenizer_images(loaded.stored, split);
    source->truncate(args.get<long>("data.limit"));
    const ibq::ImageSource& set = *source;
    const ibq::CropPolicy random_crop{ibq::CropMode::random, false, args.get<unsigned long>("data.crop_seed")};
    const auto cropped = crops > 0 ? ibq::cli::load_tokenizer_images(loaded.stored, split, &random_crop) : nullptr;
    if (cropped) cropped->truncate(args.get<long>("data.limit"));
    std::vector<ibq::index_t> order(set.count);
    for (ibq::index_t i = 0; i < set.count; ++i) order[i] = i;

    ibq::TokenDatasetInfo info;
    info.codebook_size = loaded.config.codebook_size;
    info.grid_h = info.grid_w = loaded.config.ae.latent_resolution();
    info.tokenizer_checkpoint = fs::absolute(ckpt).string();
    info.tokenizer_sha256 = comm.root() ? ibq::sha256_file(ckpt) : "";
    info.source = loaded.stored.get<std::string>("data.source") + " " + split + " (" + std::to_string(set.count) + " images)";
    info.config = ibq::h5::File(ckpt, ibq::h5::File::Mode::read).attr_string("/", "config");
    info.crops = crops;
    info.crop_seed = crops > 0 ? random_crop.seed : 0;  // a seed without crops would refuse appends
    const ibq::index_t per = info.grid_h * info.grid_w;

    std::unique_ptr<ibq::TokenWriter> writer;
    std::vector<std::string> written;
    long shard = 0;
    auto open_next = [&] {
      const std::string p = shard_size > 0 ? shard_path(out_path, shard++) : out_path;
      writer = std::make_unique<ibq::TokenWriter>(p, info, append);
      written.push_back(p);
    };
    if (comm.root()) open_next();
    const ibq::index_t before = comm.root() ? writer->count() : 0;

    // Round k: rank r encodes images [k R B + r B, k R B + (r + 1) B); rank 0 gathers them in rank order.
    const ibq::index_t round = ibq::index_t(comm.size()) * batch;
    if (comm.root() && crops > 0)
      std::cerr << prog << ": " << crops << " random crops per image (seed " << random_crop.seed << ") besides the centre crop, "
                << ibq::cli::describe_crops(*cropped) << "\n";
    ibq::cli::Progress bar("tokenize", set.count, 10.0, !comm.root());
    for (ibq::index_t start = 0; start < set.count; start += round) {
      const ibq::index_t first = std::min(set.count, start + comm.rank() * batch);
      const ibq::index_t n = std::min<ibq::index_t>(batch, set.count - first);
      std::vector<std::int32_t> tokens, labels, crop_tokens;  // crop_tokens: [n, crops, h, w]
      if (n > 0) {
        tokens = loaded.model->encode(set.batch<float>(order, first, n)).to_host();
        labels = set.batch_labels<ibq::HostSpace>(order, first, n).to_host();
        crop_tokens.resize(std::size_t(n * crops * per));
        for (long j = 0; j < crops; ++j) {
          const auto t = loaded.model->encode(cropped->batch<float>(order, first, n, std::uint64_t(j))).to_host();
          for (ibq::index_t i = 0; i < n; ++i)
            std::copy_n(t.begin() + i * per, per, crop_tokens.begin() + (i * crops + j) * per);
        }
      }
      tokens = comm.gather_to_root(tokens);
      labels = comm.gather_to_root(labels);
      crop_tokens = comm.gather_to_root(crop_tokens);
      if (comm.root()) {
        for (std::size_t done = 0; done < labels.size();) {  // split across shard boundaries
          if (shard_size > 0 && writer->count() == shard_size) {
            writer->commit();
            open_next();
          }
          const std::size_t room = shard_size > 0 ? std::size_t(shard_size - writer->count()) : labels.size();
          const std::size_t take = std::min(room, labels.size() - done);
          writer->add(tokens.data() + done * std::size_t(per), labels.data() + done, ibq::index_t(take),
                      crops > 0 ? crop_tokens.data() + done * std::size_t(per * crops) : nullptr);
          done += take;
        }
      }
      bar.update(std::min(set.count, start + round));
    }
    bar.finish();
    if (comm.root()) {
      const ibq::index_t total = writer->count();
      writer->commit();
      // Shards of an earlier, longer run under the same name would be read as part of this set.
      for (long k = shard; shard_size > 0 && fs::exists(shard_path(out_path, k)); ++k) fs::remove(shard_path(out_path, k));
      std::cout << "tokenized " << set.count << " images (" << info.source << ") into " << info.grid_h << "x"
                << info.grid_w << " grids of K = " << info.codebook_size << " on " << comm.size() << " rank(s); "
                << (append ? "appended to " : "wrote ") << written.size() << " file(s): " << written.front()
                << (written.size() > 1 ? " ... " + written.back() : std::string()) << " (" << total - before
                << " new, " << total << " in the last file)\n";
    }
    return 0;
  });
}
