// ibq-inspect: what an HDF5 file holds — a checkpoint, a token dataset, an image shard or anyone's file:
// the tree with every object's attributes, each dataset's dtype, shape and statistics, and the stored config;
// for a checkpoint, also its training curves as a picture.
//
//   ibq-inspect run/model.h5                           # tree, attributes, statistics, config
//   ibq-inspect run/model.h5 --stats=false             # the tree alone: instant even on a 100 GB shard
//   ibq-inspect run/model.h5 --tensor params/fc1.weight [--full]
//   ibq-inspect run/model.h5 --config-only > again.ini # the exact configuration, reusable with --config
//   ibq-inspect --plot run/model.h5 [--out curves.png] # metrics/ series as one PNG (needs gnuplot)
//   ibq-inspect --verify run/ckpt-*.h5                 # every checksum; exit 1 naming the first bad tensor
//
// The library (ibq/io/h5_walk.hpp) finds, reads and summarises; this file only decides how it looks.
// The picture is common/plot_curves.hpp's business.
// Options are plain flags and a positional FILE, so Program_options is used directly rather than through
// cli::Options, whose section.key scheme is for the INI configurations of training drivers.
#include <boost/program_options.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "common/plot_curves.hpp"
#include "common/runtime.hpp"
#include "ibq/io/h5_verify.hpp"
#include "ibq/io/h5_walk.hpp"

namespace {

namespace h5 = ibq::h5;
namespace po = boost::program_options;

const std::string prog = "ibq-inspect";
constexpr std::uint64_t summary_limit = 1000;  // larger tensors print their first and last values only
constexpr std::size_t values_per_line = 10, edge_lines = 2;  // a summary shows 2 lines at each end

struct Settings {
  std::string file, tensor, out;
  std::vector<std::string> files;  // --verify takes several
  bool stats = true, full = false, config_only = false, plot = false, verify = false;
};

Settings parse(int argc, char** argv) {
  po::options_description desc("Options");
  desc.add_options()("help,h", "print this help and exit")(
      "tensor", po::value<std::string>(), "print this dataset's values (with shape and statistics)")(
      "stats", po::value<bool>()->default_value(true)->implicit_value(true),
      "compute per-dataset statistics (mean, std, min, max, NaN and Inf counts); reads every value")(
      "full", po::value<bool>()->default_value(false)->implicit_value(true),
      "with --tensor: print every value, not only the first and last ones of a large tensor")(
      "config-only", po::value<bool>()->default_value(false)->implicit_value(true),
      "print only the stored configuration (the root attribute 'config') as INI text")(
      // A switch, not an implicit bool like --stats: Boost 1.74 would take `--plot FILE` as --plot=FILE.
      "plot", po::bool_switch(),
      "draw the training curves stored under metrics/ (loss terms, codebook usage, perplexity, learning rate, "
      "gradient norm, ...; a panel each, against metrics/step) as one PNG; needs gnuplot (Debian package "
      "gnuplot-nox)")(
      "out", po::value<std::string>(),
      "with --plot: the PNG to write; default: FILE's name with -curves.png beside it (run/ckpt-000100.h5 gives "
      "run/ckpt-000100-curves.png). An existing file is replaced whole, never left half-written")(
      "verify", po::bool_switch(),
      "check FILE... whole: every dataset read through its Fletcher32 checksum, the file's metadata checksums "
      "and its manifest of datasets. Prints one line per file (OK, UNVERIFIED: readable but written without "
      "checksums, or DAMAGED naming the first bad tensor and why); exit 0 if all are OK, 1 if any is damaged, "
      "2 if any cannot be verified")(
      "file", po::value<std::vector<std::string>>(), "the HDF5 file (the positional arguments)");
  po::positional_options_description pos;
  pos.add("file", -1);
  po::variables_map vm;
  auto usage_error = [](const std::string& msg) {
    std::cerr << prog << ": error: " << msg << "; run with --help for usage\n";
    throw ibq::cli::Exit{2};
  };
  try {
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).style(style).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << prog << ": prints an HDF5 file's tree, attributes, dataset shapes, dtypes and statistics, and"
              << " the stored config, or draws a checkpoint's training curves\n\nUsage: " << prog
              << " FILE [--tensor NAME [--full]] [--stats=false] [--config-only]\n       " << prog
              << " --plot FILE [--out PNG]\n       " << prog << " --verify FILE...\n\n" << desc << "\n";
    throw ibq::cli::Exit{0};
  }
  Settings s;
  if (!vm.count("file")) usage_error("no FILE given");
  s.files = vm["file"].as<std::vector<std::string>>();
  s.file = s.files[0];
  s.verify = vm["verify"].as<bool>();
  if (s.files.size() > 1 && !s.verify) usage_error("one FILE at a time (only --verify takes several)");
  if (s.verify && (vm.count("tensor") || vm["plot"].as<bool>() || vm["config-only"].as<bool>() || vm.count("out")))
    usage_error("--verify takes only files");
  if (vm.count("tensor")) s.tensor = vm["tensor"].as<std::string>();
  s.stats = vm["stats"].as<bool>();
  s.full = vm["full"].as<bool>();
  s.config_only = vm["config-only"].as<bool>();
  s.plot = vm["plot"].as<bool>();
  if (vm.count("out")) s.out = vm["out"].as<std::string>();
  if (s.config_only && !s.tensor.empty()) usage_error("--config-only and --tensor exclude each other");
  if (s.plot && !s.tensor.empty()) usage_error("--plot and --tensor exclude each other");
  if (s.plot && s.config_only) usage_error("--plot and --config-only exclude each other");
  if (!s.plot && vm.count("out")) usage_error("--out is for --plot");
  if (s.plot && s.out.empty()) s.out = ibq::cli::curves::default_output(s.file);
  return s;
}

std::string join_dims(const std::vector<hsize_t>& d, const char* open = "[", const char* close = "]") {
  std::string out = open;
  for (std::size_t i = 0; i < d.size(); ++i) out += (i ? ", " : "") + std::to_string(d[i]);
  return out + close;
}

std::string human_bytes(double b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  for (; b >= 1024 && u < 4; ++u) b /= 1024;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
  return buf;
}

std::string number(double v, bool integer) {
  if (std::isnan(v)) return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf, integer ? "%.0f" : "%.6g", v);
  return buf;
}

std::string describe(const h5::DatasetInfo& info) {
  std::string s = info.dtype + " " + (info.dims.empty() ? "scalar" : join_dims(info.dims));
  if (!info.chunk.empty()) s += " chunks " + join_dims(info.chunk);
  for (const auto& f : info.filters) s += " " + f;
  return s;
}

std::string describe(const h5::TensorStats& s, const h5::DatasetInfo& info) {
  if (s.count == 0) return "empty";
  const bool integer = info.dtype.find("int") != std::string::npos;
  char buf[160];  // fixed widths: the statistics of consecutive datasets line up
  std::snprintf(buf, sizeof buf, "mean=%-11s std=%-11s min=%-11s max=%-11s nan=%llu inf=%llu",
                number(s.mean(), false).c_str(), number(s.stddev(), false).c_str(), number(s.min(), integer).c_str(),
                number(s.max(), integer).c_str(), static_cast<unsigned long long>(s.nan),
                static_cast<unsigned long long>(s.inf));
  const std::string out = buf;
  return s.nan + s.inf ? out + "  <-- non-finite values" : out;
}

std::string attribute_text(const h5::Attribute& a, bool is_root) {
  if (a.values.empty()) return a.count ? "<" + a.dtype + ">" : "<empty>";
  if (a.is_string && a.values.size() == 1) {
    const std::string& v = a.values[0];
    const auto lines = std::count(v.begin(), v.end(), '\n') + (v.empty() || v.back() == '\n' ? 0 : 1);
    if (is_root && a.name == "config") return "<" + std::to_string(lines) + " lines of INI, printed below>";
    if (lines > 1) return "<" + std::to_string(lines) + " lines> \"" + v.substr(0, v.find('\n')) + "...\"";
    return v.size() > 100 ? "\"" + v.substr(0, 100) + "...\" (" + std::to_string(v.size()) + " chars)" : "\"" + v + "\"";
  }
  std::string out;
  for (std::size_t i = 0; i < a.values.size(); ++i)
    out += (i ? ", " : "") + (a.is_string ? "\"" + a.values[i] + "\"" : a.values[i]);
  if (a.count > a.values.size()) out += ", ... (" + std::to_string(a.count) + " values)";
  return a.dims.empty() ? out : "[" + out + "]";
}

void print_attributes(const h5::File& f, const std::string& obj, int depth) {
  for (const auto& a : h5::attributes(f, obj))
    std::cout << std::string(2 * depth, ' ') << "@" << a.name << ": " << a.dtype
              << (a.dims.empty() ? "" : join_dims(a.dims)) << " = " << attribute_text(a, obj == "/") << "\n";
}

// Prints values given in flat order, a few per line, each line prefixed by the index range it covers:
// "[3, 0:10]" for a row of a matrix, "[0, 5, 0:3, :]" for three RGB pixels of an NHWC image. A line spans
// whole blocks of the trailing axes that fit in values_per_line and never crosses into the next slice.
class ValuePrinter {
 public:
  ValuePrinter(std::vector<hsize_t> dims, int value_width) : dims_(std::move(dims)), width_(value_width) {
    if (dims_.empty()) return;
    axis_ = dims_.size() - 1;
    while (axis_ > 0 && inner_ * dims_[axis_] <= values_per_line) inner_ *= dims_[axis_--];
    per_line_ = inner_ * std::max<std::uint64_t>(1, values_per_line / inner_);
    slice_ = inner_ * dims_[axis_];
  }
  ~ValuePrinter() { flush(); }
  std::uint64_t per_line() const { return per_line_; }
  template <class T>
  void add(const T* v, std::size_t n, std::uint64_t first) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t index = first + i;
      if (!line_.empty() && (index != start_ + line_.size() || index % slice_ == 0 || line_.size() == per_line_))
        flush();
      if (line_.empty()) start_ = index;
      line_.push_back(h5::to_text(v[i]));
    }
  }
  void flush() {
    if (line_.empty()) return;
    std::string prefix;
    if (!dims_.empty()) {  // leading axes as indices, the line's axis as a range, trailing axes whole
      std::uint64_t rest = start_ / inner_;
      const std::uint64_t from = rest % dims_[axis_];
      std::vector<std::string> idx(dims_.size(), ":");
      const std::uint64_t to = from + (line_.size() + inner_ - 1) / inner_;
      idx[axis_] = to == from + 1 ? std::to_string(from) : std::to_string(from) + ":" + std::to_string(to);
      for (std::size_t a = axis_; a-- > 0;) idx[a] = std::to_string((rest /= dims_[a + 1]) % dims_[a]);
      for (std::size_t a = 0; a < idx.size(); ++a) prefix += (a ? ", " : "[") + idx[a];
      prefix += "]";
    }
    std::cout << std::left << std::setw(int(prefix_width())) << prefix << std::right;
    for (const auto& v : line_) std::cout << " " << std::setw(width_) << v;
    std::cout << "\n";
    line_.clear();
  }

 private:
  std::size_t prefix_width() const {  // "[" + indices joined by ", " + "]" at their widest
    if (dims_.empty()) return 0;
    std::size_t w = 2 * dims_.size();
    for (std::size_t a = 0; a < dims_.size(); ++a) {
      const std::size_t digits = std::to_string(dims_[a]).size();
      w += a < axis_ ? digits : a == axis_ ? 2 * digits + 1 : 1;
    }
    return w;
  }
  std::vector<hsize_t> dims_;
  int width_;
  std::size_t axis_ = 0;  // the axis a line ranges over
  std::uint64_t inner_ = 1, per_line_ = values_per_line, slice_ = 1;
  std::vector<std::string> line_;
  std::uint64_t start_ = 0;
};

int value_width(const std::string& dtype) {
  if (dtype == "int8" || dtype == "uint8") return 4;
  if (dtype == "int16" || dtype == "uint16") return 6;
  if (dtype == "int32" || dtype == "uint32") return 11;
  return dtype.find("int") != std::string::npos ? 20 : 13;
}

void print_tensor(const h5::File& f, const Settings& s) {
  const auto info = h5::dataset_info(f, s.tensor);  // an unknown name throws, listing close names
  h5::require_numeric(f, s.tensor, info);             // before any output: an error is one line alone
  std::cout << s.tensor << ": " << describe(info) << ", " << info.numel << (info.numel == 1 ? " value\n" : " values\n");
  print_attributes(f, s.tensor, 1);
  if (s.stats) std::cout << describe(h5::dataset_stats(f, s.tensor), info) << "\n";
  if (info.numel == 0) return;
  ValuePrinter out(info.dims, value_width(info.dtype));
  auto print = [&](const auto* v, std::size_t n, std::uint64_t first) { out.add(v, n, first); };
  if (s.full || info.numel <= summary_limit) {
    h5::for_each_block(f, s.tensor, print);
    return;
  }
  const std::uint64_t edge = edge_lines * out.per_line();  // whole lines: a pixel is never cut in two
  h5::for_each_block(f, s.tensor, print, h5::default_block_elements, 0, edge);
  out.flush();
  std::cout << "... (" << info.numel - 2 * edge << " values not shown; --full prints them all)\n";
  h5::for_each_block(f, s.tensor, print, h5::default_block_elements, info.numel - edge, info.numel);
}

std::string stored_config(const h5::File& f) {
  for (const auto& a : h5::attributes(f, "/", 1))
    if (a.name == "config" && a.is_string && !a.values.empty()) return a.values[0];
  return "";
}

// The notes on what was left out of the picture (NaN/Inf values, odd datasets), then one line saying what
// it shows; gnuplot's warnings, if any, go to stderr.
void plot(const h5::File& f, const Settings& s) {
  const auto r = ibq::cli::curves::plot(f, s.file, s.out);
  std::istringstream warnings(r.gnuplot_output);
  for (std::string line; std::getline(warnings, line);)
    if (!line.empty()) std::cerr << prog << ": gnuplot: " << line << "\n";
  for (const auto& note : r.curves.notes) std::cout << "note: " << note << "\n";
  std::string panels;
  for (const auto& p : r.panels) panels += (panels.empty() ? "" : ", ") + p.title;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& series : r.curves.series)
    for (double x : series.x) lo = std::min(lo, x), hi = std::max(hi, x);
  std::cout << "wrote " << r.out << ": " << r.picture.width << "x" << r.picture.height << " PNG, " << r.panels.size()
            << " panel" << (r.panels.size() == 1 ? "" : "s") << " (" << panels << "), " << r.curves.series.size()
            << " series, " << r.curves.records << " records, " << r.curves.x_name << " " << number(lo, true) << ".."
            << number(hi, true) << "\n";
}

void print_tree(const h5::File& f, const Settings& s) {
  const auto objects = h5::walk(f);
  std::vector<h5::DatasetInfo> infos(objects.size());
  std::size_t name_width = 1, type_width = 0, groups = 0, datasets = 0;
  std::uint64_t values = 0;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const auto& o = objects[i];
    name_width = std::max(name_width, 2 * std::size_t(o.depth + 1) + o.path.size() + 2);
    groups += o.kind == h5::ObjectKind::group;
    if (o.kind != h5::ObjectKind::dataset) continue;
    infos[i] = h5::dataset_info(f, o.path);
    type_width = std::max(type_width, describe(infos[i]).size());
    values += infos[i].numel;
    ++datasets;
  }
  std::cout << s.file << ": HDF5, " << human_bytes(double(std::filesystem::file_size(s.file))) << ", " << groups
            << " groups, " << datasets << " datasets, " << values << " values\n/\n";
  print_attributes(f, "/", 1);
  std::vector<std::string> non_finite;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const auto& o = objects[i];
    const std::string indent(2 * std::size_t(o.depth + 1), ' ');
    std::cout << indent;
    switch (o.kind) {
      case h5::ObjectKind::group: std::cout << o.path << "/\n"; break;
      case h5::ObjectKind::soft_link: std::cout << o.path << " -> " << o.target << " (soft link)\n"; break;
      case h5::ObjectKind::external_link: std::cout << o.path << " -> " << o.target << " (external link)\n"; break;
      case h5::ObjectKind::named_datatype: std::cout << o.path << " (named datatype)\n"; break;
      case h5::ObjectKind::other: std::cout << o.path << " (unknown object)\n"; break;
      case h5::ObjectKind::dataset: {
        std::cout << std::left << std::setw(int(name_width - indent.size())) << o.path
                  << std::setw(s.stats ? int(type_width) : 0) << describe(infos[i]) << std::right;
        if (s.stats && infos[i].numeric) {
          std::cout.flush();  // the line so far shows which dataset a long read is on
          const auto st = h5::dataset_stats(f, o.path);
          std::cout << "  " << describe(st, infos[i]);
          if (st.nan + st.inf) non_finite.push_back(o.path);
        } else if (s.stats) {
          std::cout << "  (not numeric)";
        }
        std::cout << "\n";
        break;
      }
    }
    if (o.kind == h5::ObjectKind::group || o.kind == h5::ObjectKind::dataset) print_attributes(f, o.path, o.depth + 2);
  }
  if (!non_finite.empty()) {
    std::cout << non_finite.size() << " dataset(s) hold NaN or Inf:";
    for (const auto& n : non_finite) std::cout << " " << n;
    std::cout << "\n";
  }
  const std::string config = stored_config(f);
  std::cout << (config.empty() ? "config: none (no root attribute 'config')\n" : "config:\n" + config);
  if (!config.empty() && config.back() != '\n') std::cout << "\n";
}

// One line per file; the exit status is the worst verdict (0 OK, 2 unverifiable, 1 damaged).
int verify_files(const std::vector<std::string>& files) {
  int status = 0;
  for (const auto& path : files) {
    const auto v = h5::verify_file(path);
    (v.intact() ? std::cout : std::cerr) << h5::describe(v) << std::endl;
    if (!v.intact()) status = 1;
    else if (!v.verified() && status == 0) status = 2;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  ibq::settle_process_environment(argv);  // OpenBLAS kernel + OpenMP spin, before they are read
  return ibq::cli::run_main(prog, [&] {
    const Settings s = parse(argc, argv);
    if (s.verify) return verify_files(s.files);
    const h5::File f(s.file, h5::File::Mode::read);  // a missing or non-HDF5 file throws, naming it
    if (s.plot) {
      plot(f, s);
    } else if (s.config_only) {
      const std::string config = stored_config(f);
      IBQ_CHECK(!config.empty(), "'" << s.file << "' has no root attribute 'config' (ibq drivers store one in every "
                                     << "file they write); run without --config-only to see what it holds");
      std::cout << config << (config.back() == '\n' ? "" : "\n");
    } else if (!s.tensor.empty()) {
      print_tensor(f, s);
    } else {
      print_tree(f, s);
    }
    return 0;
  });
}
