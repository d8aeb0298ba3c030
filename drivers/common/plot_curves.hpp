// drivers/common/plot_curves.hpp — a checkpoint's training curves as one PNG, drawn by gnuplot.
//
//   const ibq::h5::File f("run/ckpt-000100.h5", ibq::h5::File::Mode::read);
//   auto r = ibq::cli::curves::plot(f, "run/ckpt-000100.h5", ibq::cli::curves::default_output(path));
//   // r.panels, r.picture (pixels), r.curves.notes (values skipped, datasets left out), r.gnuplot_output
//
// The trainers record their log-window means under metrics/ (float64 1-D datasets, one value per log line,
// see ibq/io/checkpoint.hpp); metrics/step holds the step of each record and is the x axis. Panels are
// chosen from the names present, so tokenizer runs with or without the GAN, AR runs and classifier runs all
// get a sensible picture, and a series nobody anticipated still lands in an "other series" panel.
//
// gnuplot rather than a plotting library: it is one Debian package (gnuplot-nox, installed by
// hpc/setup.sh), adds no build dependency, and the script it reads can be kept and edited by hand. The
// data goes inline as `$sN << EOD` blocks, so no data files are written or left behind.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/io/durable.hpp"
#include "ibq/io/h5_walk.hpp"

extern char** environ;

namespace ibq::cli::curves {

struct Series {
  std::string name;          // relative to metrics/: "loss", "usage_window"
  std::vector<double> x, y;  // the finite points only, in record order
  std::size_t stored = 0;    // values in the file
  std::size_t skipped = 0;   // NaN/Inf values left out
};

struct Curves {
  std::string file, kind;  // kind: the root attribute ("tokenizer", "ar", "classifier"); "" when absent
  bool has_step_attr = false;
  std::int64_t step = 0;           // the root attribute: the step the checkpoint was written at
  std::string x_label = "step";    // the x axis: "step" when metrics/step exists, else what a record is
  std::string x_name = "step";     // the same in one word: step, epoch, record
  std::size_t records = 0;         // length of the longest series
  std::vector<Series> series;      // drawable ones (at least one finite point), metrics/step excluded
  std::vector<std::string> notes;  // what was skipped or left out, for the caller to print
};

struct Panel {
  std::string title, ylabel;
  std::vector<std::size_t> series;  // indices into Curves::series
  bool log_y = false;               // losses spanning decades: on a linear axis the small terms are flat lines
  bool from_zero = false;           // fractions: starting at 0 shows how much of the codebook is unused
};

// Pixel geometry. Every panel gets the same plot area at the same place in its cell, whatever the length
// of its key or tick labels, so the step axes of panels above each other line up.
struct Picture {
  int width = 0, height = 0, rows = 0, cols = 0;
  int plot_w = 0, plot_h = 0;       // one panel's plot area
  int left = 0, key = 0;            // per column: y tics and label, then the key to the right of the plot
  int top = 0, bottom = 0, gap = 0;  // title, x tics and label of the last row, between rows
};

namespace detail {

inline std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
inline bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Series names -> panels. The first rule that matches wins; `order` is the panel's place in the picture.
// The adversarial terms get their own panel instead of "losses": hinge losses sit near 1-2 and g_loss is
// often negative, which would squash the reconstruction terms and rule out the log axis they need.
struct Rule {
  int order;
  const char* title;
  const char* ylabel;
  bool log_allowed, from_zero;
  bool (*match)(const std::string& lowercase_name);
};

inline const std::vector<Rule>& rules() {
  static const std::vector<Rule> r = {
      {9, "learning rate", "lr", false, false,
       [](const std::string& n) { return n == "lr" || has(n, "learning_rate") || n.rfind("lr_", 0) == 0 ||
                                         (n.size() > 3 && n.compare(n.size() - 3, 3, "_lr") == 0); }},
      {8, "gradient norm", "global L2 norm", true, false,
       [](const std::string& n) { return has(n, "grad_norm") || has(n, "gradnorm"); }},
      {3, "perplexity", "perplexity", false, false, [](const std::string& n) { return has(n, "perplexity"); }},
      {2, "codebook usage", "fraction of codes used", false, true,
       [](const std::string& n) { return has(n, "usage") || has(n, "utilisation") || has(n, "utilization"); }},
      {4, "adversarial losses", "loss", false, false,
       [](const std::string& n) { return n == "d_loss" || n == "g_loss" || has(n, "lecam") || has(n, "gan_loss") ||
                                         has(n, "disc_loss"); }},
      {5, "discriminator logits (mean)", "logit", false, false, [](const std::string& n) { return has(n, "logits"); }},
      {6, "adaptive GAN weight", "weight", true, false, [](const std::string& n) { return has(n, "gen_weight"); }},
      {1, "entropy terms", "nats", false, false, [](const std::string& n) { return has(n, "entropy"); }},
      {0, "losses", "loss", true, false,
       [](const std::string& n) { return has(n, "loss") || n == "l1" || n == "l2" || n == "mse" || n == "perceptual" ||
                                         n == "lpips" || n == "nll"; }},
      {7, "accuracy", "accuracy", false, false, [](const std::string& n) { return has(n, "acc"); }},
  };
  return r;
}
inline constexpr int other_order = 10;

// What the tokenizer driver's log line calls them, so the picture and the log read the same.
inline std::string key_label(const Series& s) {
  static const std::vector<std::pair<const char*, const char*>> gloss = {
      {"sample_entropy", "sample_entropy (H_sample)"}, {"batch_entropy", "batch_entropy (H_avg)"},
      {"usage_batch", "usage_batch (per batch)"},       {"usage_window", "usage_window (log window)"},
      {"perceptual", "perceptual (LPIPS)"},             {"gen_weight", "gen_weight (adaptive)"}};
  std::string label = s.name;
  for (const auto& [name, text] : gloss)
    if (s.name == name) label = text;
  if (s.skipped) label += " [" + std::to_string(s.skipped) + " NaN/Inf skipped]";
  return label;
}

// gnuplot single-quoted string: no escapes except '' for a quote. Control characters (a newline in a file
// name) would end the command, so they become '?'.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "''";
    else out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  }
  return out + "'";
}

inline std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

inline std::string one_line(std::string s, std::size_t max = 400) {
  for (auto& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  std::string out;
  for (char c : s)
    if (!(c == ' ' && (out.empty() || out.back() == ' '))) out += c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.size() > max ? out.substr(0, max) + "..." : out;
}

// gnuplot reports an error in a loaded script as three lines: the command, a caret under the bad token,
// and '"/dev/stdin" line N: what is wrong'. One line of it, with the command, is enough to act on.
inline std::string gnuplot_error(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string l; std::getline(in, l);)
    if (l.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(l);
  for (std::size_t i = lines.size(); i-- > 0;) {
    const auto at = lines[i].find("\" line ");
    if (at == std::string::npos || lines[i].find('"') >= at) continue;
    std::string msg = one_line(lines[i].substr(at + 2));
    if (i >= 2 && lines[i - 1].find('^') != std::string::npos) msg += " (in: " + one_line(lines[i - 2], 120) + ")";
    return msg;
  }
  std::string all;
  for (const auto& l : lines) all += (all.empty() ? "" : "; ") + l;
  return all.empty() ? "it printed nothing" : one_line(all);
}

}  // namespace detail

// FILE's name with -curves.png beside it: run/ckpt-000100.h5 -> run/ckpt-000100-curves.png.
inline std::string default_output(const std::string& file) {
  std::filesystem::path p(file);
  p.replace_extension();
  return p.string() + "-curves.png";
}

// Reads every 1-D numeric dataset under metrics/ (any stored type, through h5_walk's block reader), pairs
// each value with its step, and leaves out NaN/Inf (counted: a diverged window must not hide the rest).
inline Curves read_curves(const h5::File& f, const std::string& file) {
  const std::string none = "'" + file + "': this file holds no training metrics: ";
  IBQ_CHECK(f.exists("metrics"), none << "it has no group 'metrics' (the training drivers store their log-window "
                                         "means there in every checkpoint; image shards and token datasets have none)");
  std::vector<h5::Object> objects;
  try {
    objects = h5::walk(f, "metrics");
  } catch (const ibq::Error&) {
    IBQ_THROW(none << "'metrics' is not a group of series");
  }
  Curves c;
  c.file = file;
  if (f.has_attr("/", "kind")) c.kind = f.attr_string("/", "kind");
  if (f.has_attr("/", "step")) {
    c.has_step_attr = true;
    c.step = f.attr<std::int64_t>("/", "step");
  }

  std::vector<Series> all;
  std::vector<double> steps;
  bool have_steps = false;
  std::vector<std::string> names;
  for (const auto& o : objects) {
    if (o.kind != h5::ObjectKind::dataset) continue;
    const std::string path = "metrics/" + o.path;
    const auto info = h5::dataset_info(f, path);
    if (!info.numeric || info.dims.size() != 1) {
      std::string shape;
      for (std::size_t d = 0; d < info.dims.size(); ++d) shape += (d ? ", " : "") + std::to_string(info.dims[d]);
      c.notes.push_back(path + ": " + info.dtype + " [" + shape + "] left out (a series is 1-D and numeric)");
      continue;
    }
    Series s;
    s.name = o.path;
    s.stored = info.numel;
    s.y.reserve(info.numel);
    h5::for_each_block(f, path, [&](const auto* v, std::size_t n, std::uint64_t) {
      for (std::size_t i = 0; i < n; ++i) s.y.push_back(double(v[i]));
    });
    names.push_back(s.name);
    if (s.name == "step") {
      steps = std::move(s.y);
      have_steps = true;
    } else {
      all.push_back(std::move(s));
    }
  }

  std::size_t bad_steps = 0;
  for (double v : steps) bad_steps += !std::isfinite(v);
  if (bad_steps)
    c.notes.push_back("metrics/step: " + std::to_string(bad_steps) +
                      " NaN/Inf step(s); their records are left out of every series");
  if (!have_steps && c.kind == "classifier") {  // its trainer records once per epoch, without steps
    c.x_label = c.x_name = "epoch";
  } else if (!have_steps) {
    c.x_label = "log record (the file has no metrics/step)";
    c.x_name = "record";
  }
  std::string empty_list;
  for (auto& s : all) {
    c.records = std::max(c.records, s.y.size());
    // The trainers append every series at each log step, so lengths agree; if one started later (a
    // resume that switched the GAN on), its values are the most recent ones: align the ends.
    const std::size_t n = s.y.size();
    std::size_t first_step = 0, first_value = 0;
    if (have_steps && n != steps.size()) {
      if (n > steps.size()) first_value = n - steps.size();
      else first_step = steps.size() - n;
      c.notes.push_back("metrics/" + s.name + " has " + std::to_string(n) + " values and metrics/step " +
                        std::to_string(steps.size()) + ": drawn against the last steps (ends aligned)" +
                        (first_value ? ", its first " + std::to_string(first_value) + " values left out" : ""));
    }
    std::vector<double> x, y;
    for (std::size_t i = first_value; i < n; ++i) {
      const double xi = have_steps ? steps[first_step + i - first_value] : double(i + 1);
      if (!std::isfinite(xi)) continue;
      if (!std::isfinite(s.y[i])) {
        ++s.skipped;
        continue;
      }
      x.push_back(xi);
      y.push_back(s.y[i]);
    }
    s.x = std::move(x);
    s.y = std::move(y);
    if (s.stored == 0) {
      empty_list += (empty_list.empty() ? "" : ", ") + s.name + " (empty)";
      c.notes.push_back("metrics/" + s.name + " is empty; not drawn");
      continue;
    }
    if (s.y.empty()) {
      empty_list += (empty_list.empty() ? "" : ", ") + s.name + " (" + std::to_string(s.skipped) + " NaN/Inf)";
      c.notes.push_back("metrics/" + s.name + (s.skipped == s.stored
                                                   ? ": all " + std::to_string(s.stored) + " values are NaN or Inf"
                                                   : ": no value has a finite step") + "; not drawn");
      continue;
    }
    if (s.skipped)
      c.notes.push_back("metrics/" + s.name + ": skipped " + std::to_string(s.skipped) + " NaN/Inf value" +
                        (s.skipped == 1 ? "" : "s") + " of " + std::to_string(s.stored));
    c.series.push_back(std::move(s));
  }
  if (c.series.empty()) {
    std::string listed;
    for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n;
    IBQ_THROW(none << (names.empty() ? std::string("the group 'metrics' holds no 1-D numeric series")
                       : all.empty()  ? "'metrics' holds only the step numbers (" + listed + ")"
                                      : "its series are empty or hold only NaN/Inf: " + empty_list));
  }
  return c;
}

// One panel per kind of quantity present, in a fixed order; within a panel the total "loss" comes first.
inline std::vector<Panel> choose_panels(const Curves& c) {
  const auto& rules = detail::rules();
  std::vector<std::pair<int, Panel>> found;
  for (std::size_t i = 0; i < c.series.size(); ++i) {
    const std::string base = detail::lower(c.series[i].name.substr(c.series[i].name.rfind('/') + 1));
    int order = detail::other_order;
    Panel proto{"other series", "value", {}, false, false};
    bool log_allowed = false;
    for (const auto& r : rules)
      if (r.match(base)) {
        order = r.order;
        proto = Panel{r.title, r.ylabel, {}, false, r.from_zero};
        log_allowed = r.log_allowed;
        break;
      }
    auto it = std::find_if(found.begin(), found.end(), [&](const auto& p) { return p.first == order; });
    if (it == found.end()) {
      proto.log_y = log_allowed;  // provisional: confirmed below from the values
      found.emplace_back(order, proto);
      it = found.end() - 1;
    }
    it->second.series.push_back(i);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Panel> panels;
  for (auto& [order, p] : found) {
    auto total_first = [&](std::size_t a, std::size_t b) {
      return c.series[a].name == "loss" && c.series[b].name != "loss";
    };
    std::stable_sort(p.series.begin(), p.series.end(), total_first);
    if (p.log_y) {  // only when every value is positive and they span more than a factor 30
      double lo = INFINITY, hi = 0;
      bool positive = true;
      for (std::size_t i : p.series)
        for (double v : c.series[i].y) positive = positive && v > 0, lo = std::min(lo, v), hi = std::max(hi, v);
      p.log_y = positive && hi > 30 * lo;
      if (p.log_y) p.ylabel += " (log scale)";
    }
    panels.push_back(std::move(p));
  }
  return panels;
}

// Up to three panels stacked in one column (they share the step axis); more in two columns. The key sits
// right of each plot, as wide as the longest key label needs: the line sample and about 8 pixels a
// character at 11 points (pngcairo; libgd's png at 10 points is about as wide).
inline Picture layout(std::size_t panels, std::size_t longest_label) {
  Picture p;
  p.cols = panels <= 3 ? 1 : 2;
  p.rows = int((panels + std::size_t(p.cols) - 1) / std::size_t(p.cols));
  p.left = 90, p.key = int(std::clamp<std::size_t>(80 + 8 * longest_label, 140, 420));
  p.plot_w = p.cols == 1 ? 760 : 520, p.plot_h = 240;
  p.top = 105, p.bottom = 60, p.gap = 110;
  p.width = p.cols * (p.left + p.plot_w + p.key);
  p.height = p.top + p.bottom + p.rows * p.plot_h + (p.rows - 1) * p.gap;
  return p;
}

inline std::string gnuplot_script(const Curves& c, const std::vector<Panel>& panels, const Picture& pic,
                                  const std::string& png) {
  using detail::quote;
  using detail::num;
  std::ostringstream s;
  s << "# ibq-inspect --plot: training curves of " << detail::one_line(c.file) << "\n";
  double xmin = INFINITY, xmax = -INFINITY;
  for (std::size_t i = 0; i < c.series.size(); ++i) {
    s << "$s" << i << " << EOD\n";
    for (std::size_t j = 0; j < c.series[i].x.size(); ++j) {
      s << num(c.series[i].x[j]) << " " << num(c.series[i].y[j]) << "\n";
      xmin = std::min(xmin, c.series[i].x[j]), xmax = std::max(xmax, c.series[i].x[j]);
    }
    s << "EOD\n";
  }
  bool whole = true;  // steps, epochs and record numbers: no tick at 1.5 when there are only a few
  for (const auto& series : c.series)
    for (double x : series.x) whole = whole && x == std::floor(x);
  const bool unit_tics = whole && xmax - xmin <= 10;
  if (xmin == xmax) xmin -= 1, xmax += 1;  // one record: an empty x range is a gnuplot warning
  // pngcairo antialiases and scales its fonts; a gnuplot built without cairo still has libgd's png.
  // noenhanced: series names such as quant_loss would otherwise print with subscripts.
  s << "if (strstrt(' '.GPVAL_TERMINALS.' ', ' pngcairo ') > 0) {\n"
    << "  set terminal pngcairo size " << pic.width << "," << pic.height << " font 'Sans,11' noenhanced\n"
    << "} else {\n"
    << "  set terminal png size " << pic.width << "," << pic.height << " font ',10' noenhanced\n"
    << "}\n"
    << "set output " << quote(png) << "\n"
    << "set grid lc rgb '#dddddd'\n"
    << "set key at graph 1.03, graph 1 left top Left reverse samplen 2\n"
    << "set format y '%g'\n"
    << "set xrange [" << num(xmin) << ":" << num(xmax) << "]\n"
    << (unit_tics ? "set xtics 1\n" : "")
    << "set xlabel " << quote(c.x_label) << "\n";
  // Two title lines: which file (a long path keeps its end, the part that tells runs apart), then what it is.
  const std::size_t fits = std::size_t(pic.width / 10) - 20;
  const std::string file = c.file.size() > fits ? "..." + c.file.substr(c.file.size() - fits) : c.file;
  std::string what = "kind=" + (c.kind.empty() ? std::string("unknown") : c.kind);
  if (c.has_step_attr) what += ", written at step " + std::to_string(c.step);
  what += ", " + std::to_string(c.records) + " log records";
  const double W = pic.width, H = pic.height;  // layout margins and spacing are fractions of the picture
  s << "set multiplot layout " << pic.rows << "," << pic.cols << " title " << quote("training curves of " + file)
    << ".\"\\n\"." << quote(what) << " font ',14' margins "
    << num(pic.left / W) << "," << num(1 - pic.key / W) << "," << num(pic.bottom / H) << "," << num(1 - pic.top / H)
    << " spacing " << num((pic.key + pic.left) / W) << "," << num(pic.gap / H) << "\n";
  const bool few = c.records <= 40;  // few records: mark each one, a lone point has no line to draw
  for (const auto& p : panels) {
    s << "set title " << quote(p.title) << " font ',12'\n"
      << "set ylabel " << quote(p.ylabel) << "\n"
      << (p.log_y ? "set logscale y\n" : "unset logscale y\n");
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t i : p.series)
      for (double v : c.series[i].y) lo = std::min(lo, v), hi = std::max(hi, v);
    if (lo == hi)  // a constant series (a fixed lr): gnuplot would warn about an empty y range
      s << "set yrange [" << num(p.log_y ? lo / 2 : lo - (lo ? std::fabs(lo) / 2 : 1)) << ":"
        << num(p.log_y ? hi * 2 : hi + (hi ? std::fabs(hi) / 2 : 1)) << "]\n";
    else if (p.from_zero && lo >= 0)
      s << "set yrange [0:*]\n";
    else
      s << "set autoscale y\n";
    s << "plot ";
    for (std::size_t k = 0; k < p.series.size(); ++k) {
      const std::size_t i = p.series[k];
      s << (k ? ", \\\n     " : "") << "$s" << i << " using 1:2 with " << (few ? "linespoints pt 7 ps 0.6" : "lines")
        << " lw 2 title " << quote(detail::key_label(c.series[i]));
    }
    s << "\n";
  }
  s << "unset multiplot\nset output\n";
  return s.str();
}

// The full path of the first executable `program` on PATH (as execvp would pick it); "" when there is none.
inline std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string d; std::getline(dirs, d, ':');) {
    const std::string full = (d.empty() ? std::string(".") : d) + "/" + program;
    struct stat st {};
    if (::stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(full.c_str(), X_OK) == 0) return full;
  }
  return "";
}

// Runs `gnuplot /dev/stdin` with the script on its stdin and returns what it printed. Loading the script
// as a file (not as interactive input) makes gnuplot stop at the first error instead of carrying on
// and leaving a half-drawn PNG. Its output goes to an anonymous temporary file rather than a pipe: a
// pipe could fill up with warnings while we are still writing the script, and both would wait forever.
inline std::string run_gnuplot(const std::string& exe, const std::string& script, const std::string& file) {
  const std::string where = "'" + file + "': cannot draw the curves: ";
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::tmpfile(), std::fclose);
  IBQ_CHECK(out, where << "no temporary file for gnuplot's messages: " << std::strerror(errno));
  int fds[2];
  IBQ_CHECK(::pipe2(fds, O_CLOEXEC) == 0, where << "pipe: " << std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  posix_spawn_file_actions_adddup2(&actions, fileno(out.get()), 1);
  posix_spawn_file_actions_adddup2(&actions, fileno(out.get()), 2);
  char arg0[] = "gnuplot", arg1[] = "/dev/stdin";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[0]);
  if (spawned != 0) {
    ::close(fds[1]);
    IBQ_THROW(where << "cannot run " << exe << ": " << std::strerror(spawned));
  }
  // A gnuplot that stops early closes its end: the write then fails with EPIPE instead of killing us.
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old);
  for (std::size_t done = 0; done < script.size();) {
    const ssize_t n = ::write(fds[1], script.data() + done, script.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // gnuplot has gone: its status and messages say why
    done += std::size_t(n);
  }
  ::close(fds[1]);
  sigaction(SIGPIPE, &old, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string text;
  std::fflush(out.get());
  std::rewind(out.get());
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, out.get())) > 0;) text.append(buf, n);
  if (WIFSIGNALED(status))
    IBQ_THROW(where << "gnuplot was killed by signal " << WTERMSIG(status) << ": " << detail::gnuplot_error(text));
  IBQ_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            where << "gnuplot failed (exit status " << WEXITSTATUS(status) << "): " << detail::gnuplot_error(text));
  return text;
}

struct Result {
  std::string out;
  Curves curves;
  std::vector<Panel> panels;
  Picture picture;
  std::string gnuplot_output;  // warnings from a run that succeeded
};

// Reads the series, draws them into a temporary file beside `out` and renames it over `out` once gnuplot
// has succeeded and the file is a PNG: an existing picture is replaced whole or not at all.
inline Result plot(const h5::File& f, const std::string& file, const std::string& out) {
  namespace fs = std::filesystem;
  Result r;
  r.out = out;
  r.curves = read_curves(f, file);
  r.panels = choose_panels(r.curves);
  std::size_t longest = 0;
  for (const auto& series : r.curves.series) longest = std::max(longest, detail::key_label(series).size());
  r.picture = layout(r.panels.size(), longest);
  const std::string where = "'" + file + "': cannot draw the curves: ";
  const std::string exe = find_on_path("gnuplot");
  IBQ_CHECK(!exe.empty(), where << "gnuplot is not installed (no 'gnuplot' on PATH); install the Debian package "
                                   "gnuplot-nox (apt-get install gnuplot-nox; hpc/setup.sh installs it)");
  std::error_code ec;
  IBQ_CHECK(!fs::is_directory(out, ec), where << "--out '" << out << "' is a directory; name a .png file");

  const fs::path target(out);
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::string tmp = (dir / (target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  IBQ_CHECK(fd >= 0, where << "cannot create a file in '" << dir.string() << "': " << std::strerror(errno));
  struct Remove {  // the temporary never outlives this function unless renamed
    std::string path;
    bool keep = false;
    ~Remove() {
      if (!keep) std::remove(path.c_str());
    }
  } guard{tmp};
  const mode_t mask = ::umask(0);  // mkstemp's 0600 would make the PNG private; use what a new file gets
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  ::close(fd);

  r.gnuplot_output = run_gnuplot(exe, gnuplot_script(r.curves, r.panels, r.picture, tmp), file);
  unsigned char sig[8] = {};
  std::unique_ptr<FILE, int (*)(FILE*)> png(std::fopen(tmp.c_str(), "rb"), std::fclose);
  const bool is_png = png && std::fread(sig, 1, 8, png.get()) == 8 &&
                      std::memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0;
  IBQ_CHECK(is_png, where << "gnuplot exited normally but wrote no PNG"
                          << (r.gnuplot_output.empty() ? "" : ": " + detail::gnuplot_error(r.gnuplot_output)));
  fsync_path(tmp);  // durable, as every file ibq writes (ibq/io/durable.hpp)
  IBQ_CHECK(std::rename(tmp.c_str(), out.c_str()) == 0,
            where << "cannot move '" << tmp << "' to '" << out << "': " << std::strerror(errno));
  guard.keep = true;
  fsync_path(parent_folder(out), true);
  return r;
}

}  // namespace ibq::cli::curves
