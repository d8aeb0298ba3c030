// ibq-prepare-data: an image folder (one sub-folder per class, the ImageNet layout) -> HDF5 image shards of
// square images (short side resized, centre crop), or with data.keep_aspect of the short-side-resized images
// themselves (the reference's SmallestMaxSize; the trainers cut a random crop of each every epoch), with the
// class names and the resolved configuration.
// Thin by design: options in, library calls, progress, files out. Unreadable images are skipped by name.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "common/progress.hpp"
#include "common/runtime.hpp"
#include "ibq/data/image_folder.hpp"
#include "ibq/io/image_shard.hpp"
#include "ibq/io/shard_names.hpp"

namespace {

namespace fs = std::filesystem;

std::string join_lines(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& n : names) text += (text.empty() ? "" : "\n") + n;
  return text;
}

// The library's shard plus what makes the file self-describing: the configuration that produced it and its
// index. Both are added before the file gets its final name, so a reader never sees a shard without them.
void write_shard(const std::string& path, const ibq::ImageSet& set, const std::string& source,
                 const std::string& classes, const std::string& config, long index) {
  ibq::replace_file_atomically(path, [&](const std::string& tmp) {
    ibq::write_image_shard(tmp, set, source, classes);
    ibq::h5::File f(tmp, ibq::h5::File::Mode::read_write);
    f.set_attr("/", "config", config);
    f.set_attr("/", "shard_index", std::int64_t(index));
  });
}

int default_threads(int requested) {
  if (requested > 0) return requested;
  const char* omp = std::getenv("OMP_NUM_THREADS");
  return omp && std::atoi(omp) > 0 ? std::atoi(omp) : 0;  // 0: every core
}

}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  const std::string prog = "ibq-prepare-data";
  return ibq::cli::run_main(prog, [&] {
    ibq::cli::Options opt(prog, "converts an image folder (DIR/<class>/<image>.jpg) into HDF5 image shards of "
                                "square images with labels and a class-name table");
    opt.add<std::string>("input.dir", "", "image folder: one sub-folder per class, PNG/JPEG files inside")
        .add<int>("data.resolution", 256, "side of the square images: short side resized to it, then centre crop")
        .add<bool>("data.keep_aspect", false,
                   "keep each image's aspect ratio (short side = data.resolution) for random training crops, "
                   "instead of storing the centre square")
        .add<double>("data.max_aspect", 2.0,
                     "data.keep_aspect: longer images keep the central data.max_aspect x data.resolution of their "
                     "long side (the shards' pitch)")
        .add<int>("data.patches", 0,
                  "cut this many random data.resolution squares from each image instead of storing it (a set of "
                  "patches of a few large photographs); 0: one image per file")
        .add<int>("data.patch_from", 0, "data.patches: resize each image's short side to this first (0: as decoded)")
        .add<unsigned long>("data.patch_seed", 1, "data.patches: seed of the patch positions")
        .add<int>("data.channels", 3, "3: RGB (grey images replicated); 1: grey (colour images to luma)")
        .add<bool>("data.antialias", true,
                   "widen the bilinear filter when downscaling (PIL); false: 2-tap bilinear (OpenCV INTER_LINEAR)")
        .add<std::string>("output.path", "", "HDF5 file to write; with output.shard_size > 0, PATH-00000.h5, ...")
        .add<long>("output.shard_size", 0, "images per shard file (0: one file, held in memory until written)")
        .add<bool>("output.overwrite", false, "replace existing output file(s)")
        .add<int>("runtime.threads", 0, "decoding threads (0: OMP_NUM_THREADS or all cores)");
    const auto args = opt.parse(argc, argv);

    const std::string in_dir = args.get<std::string>("input.dir"), out = args.get<std::string>("output.path");
    ibq::SquareImageOptions square{args.get<int>("data.resolution"), args.get<int>("data.channels"),
                                   args.get<bool>("data.antialias")};
    const double max_aspect = args.get<double>("data.max_aspect");
    IBQ_CHECK(max_aspect >= 1 && max_aspect <= 16, "data.max_aspect must be in [1, 16], got " << max_aspect);
    if (args.get<bool>("data.keep_aspect")) square.max_long = int(std::floor(max_aspect * square.resolution));
    square.patches = args.get<int>("data.patches");
    square.patch_from = args.get<int>("data.patch_from");
    square.patch_seed = args.get<unsigned long>("data.patch_seed");
    IBQ_CHECK(square.patches >= 0 && square.patches <= 1000000, "data.patches must be in 0..1000000, got " << square.patches);
    IBQ_CHECK(square.patch_from >= 0, "data.patch_from must be >= 0, got " << square.patch_from);
    IBQ_CHECK(!(square.patches > 0 && square.max_long > 0), "data.patches and data.keep_aspect exclude each other");
    const long shard_size = args.get<long>("output.shard_size");
    const bool sharded = shard_size > 0, overwrite = args.get<bool>("output.overwrite");
    IBQ_CHECK(!in_dir.empty(), "input.dir is required: pass --input.dir=DIR with DIR/<class>/<image>.jpg");
    IBQ_CHECK(!out.empty(), "output.path is required: pass --output.path=FILE.h5");
    IBQ_CHECK(square.resolution > 0 && square.resolution <= 8192,
              "data.resolution must be in 1..8192, got " << square.resolution);
    IBQ_CHECK(square.channels == 1 || square.channels == 3,
              "data.channels must be 1 (grey) or 3 (RGB), got " << square.channels);
    IBQ_CHECK(shard_size >= 0, "output.shard_size must be 0 (one file) or positive, got " << shard_size);

    // Refuse to clobber earlier results unless asked; check before spending hours decoding.
    const auto previous = sharded ? ibq::list_shards(out) : std::vector<std::string>{};
    IBQ_CHECK(overwrite || (sharded ? previous.empty() : !fs::exists(out)),
              "output " << (sharded ? "shard '" + previous.front() + "'" : "'" + out + "'")
                        << " exists; pass --output.overwrite=true or choose another --output.path");
    const auto parent = fs::path(out).parent_path();
    if (!parent.empty()) fs::create_directories(parent);

    const auto folder = ibq::scan_image_folder(in_dir);
    const std::string classes = join_lines(folder.classes), config = args.resolved_ini();
    std::cerr << prog << ": " << folder.images.size() << " images in " << folder.classes.size() << " classes under '"
              << in_dir << "'";
    if (!folder.ignored.empty())
      std::cerr << " (" << folder.ignored.size() << " non-image files ignored, e.g. '" << folder.ignored.front()
                << "')";
    std::cerr << "\n";

    const bool tty = isatty(fileno(stderr)) == 1;
    const int threads = default_threads(args.get<int>("runtime.threads"));
    const std::size_t total = folder.images.size(), batch = 256;
    ibq::ImageSet set;
    set.channels = square.channels, set.height = set.width = square.pitch();
    const std::size_t per_file = sharded ? std::min(total, std::size_t(shard_size)) : total;
    const double gib = double(per_file) * double(set.image_size()) / double(1 << 30);
    if (gib > 4)
      std::cerr << prog << ": note: each output file is built in memory (" << std::round(gib * 10) / 10
                << " GiB here); a smaller --output.shard_size needs less\n";
    set.pixels.reserve(per_file * std::size_t(set.image_size()));  // no doubling spikes while appending
    std::vector<std::string> written_files;
    long written = 0, skipped = 0;
    const auto flush = [&] {
      if (set.count == 0) return;
      written_files.push_back(sharded ? ibq::shard_path(out, long(written_files.size())) : out);
      write_shard(written_files.back(), set, in_dir, classes, config, long(written_files.size()) - 1);
      set.count = 0;
      set.pixels.clear();
      set.labels.clear();
      set.extents.clear();
    };

    ibq::cli::Progress bar("images", long(total));
    for (std::size_t first = 0; first < total; first += batch) {
      const std::size_t n = std::min(batch, total - first);
      const auto results = ibq::load_square_images(folder.images, first, n, square, threads);
      for (std::size_t i = 0; i < n; ++i) {
        if (!results[i].error.empty()) {
          std::cerr << (tty ? "\r\x1b[K" : "") << "skipping " << results[i].error << "\n";
          ++skipped;
          continue;
        }
        const auto& r = results[i];
        const std::size_t patch = r.pixels.size() / std::size_t(r.patches);
        for (int k = 0; k < r.patches; ++k) {
          ibq::append_hwc_image(set, std::vector<std::uint8_t>(r.pixels.begin() + k * patch, r.pixels.begin() + (k + 1) * patch),
                                folder.images[first + i].label, r.height, r.width);
          ++written;
          if (sharded && set.count == shard_size) flush();
        }
      }
      bar.update(long(first + n), std::to_string(written) + " written, " + std::to_string(skipped) + " skipped");
    }
    IBQ_CHECK(written > 0, "none of the " << total << " images under '" << in_dir
                                          << "' could be read (see the 'skipping' lines); nothing written");
    flush();
    bar.finish(std::to_string(written) + " written, " + std::to_string(skipped) + " skipped");

    // With --output.overwrite, shards of an earlier, longer run would otherwise pass for part of this one.
    for (const auto& old : previous) {
      std::error_code ec;
      const bool rewritten = std::any_of(written_files.begin(), written_files.end(),
                                         [&](const std::string& w) { return fs::equivalent(old, w, ec); });
      if (!rewritten) {
        fs::remove(old);
        std::cerr << prog << ": removed stale shard '" << old << "' of an earlier run\n";
      }
    }

    std::cout << written << " images written, " << skipped << " skipped; " << folder.classes.size() << " classes, "
              << (square.max_long > square.resolution
                      ? "short side " + std::to_string(square.resolution) + " (long side <= " +
                            std::to_string(square.max_long) + ")"
                      : std::to_string(square.resolution) + "x" + std::to_string(square.resolution))
              << "x" << square.channels << ", "
              << written_files.size() << " file" << (written_files.size() == 1 ? "" : "s") << ": "
              << written_files.front() << (written_files.size() > 1 ? " ... " + written_files.back() : "") << "\n";
    return 0;
  });
}
