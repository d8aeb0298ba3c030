// ibq/io/checkpoint.hpp — versioned HDF5 checkpoints of a ParamStore (+ optimizer, metrics).
//
//   ibq::CheckpointMeta meta{"classifier", step, epoch, resolved_config_ini};
//   ibq::save_checkpoint("run/model.h5", meta, store, &adam, {{"test_accuracy", acc_series}});
//   auto meta2 = ibq::load_checkpoint("run/model.h5", "classifier", store, &adam);  // checks everything
//   ibq::save_checkpoint(path, meta, store, &adam, metrics, &ema.shadow());        // + ema/<name>
//
// Layout (h5ls -r): root attributes format="ibq-checkpoint", version, kind, step, epoch, config,
// world_size; params/<name> and buffers/<name> (state-dict names, e.g. encoder.conv_in.weight);
// optim/m/<name>, optim/v/<name> and attribute optim:step; ema/<name> (the EMA shadow, when given);
// the same groups under disc/ for a GAN's discriminator (write_store_groups/read_store_groups);
// rng/seed and rng/step (all randomness is counter-based on (seed, step), so these two
// restore it exactly); metrics/<series>. The file is written to a
// temporary name and renamed, so a crash never replaces a good checkpoint with a broken one.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ibq/io/hdf5.hpp"
#include "ibq/nn/param_store.hpp"
#include "ibq/optim/adam.hpp"

namespace ibq {

inline constexpr const char* checkpoint_format = "ibq-checkpoint";
inline constexpr std::int64_t checkpoint_version = 1;

struct CheckpointMeta {
  std::string kind;  // tokenizer, ar, classifier
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  std::string config;  // the resolved INI configuration that produced it
  std::int64_t world_size = 1;
  std::uint64_t seed = 0;  // the run's seed: with step, the whole random state (counter-based RNG)
};

namespace detail {
template <class T, class Space>
Tensor<T, Space> slice_of(const Tensor<T, Space>& flat, const typename ParamStore<T, Space>::Entry& e) {
  const auto r = Kokkos::make_pair(e.offset, e.offset + e.shape.numel());
  return Tensor<T, Space>::from_view(Kokkos::subview(flat.view(), r), e.shape);
}
}  // namespace detail

// A store's groups under `prefix` ("" or "disc/"): params/, buffers/, optim/m|v (+ attribute step), ema/.
template <class T, class Space>
void write_store_groups(h5::File& f, const std::string& prefix, const ParamStore<T, Space>& store,
                        const Adam<T, Space>* optim, const Tensor<T, Space>* ema) {
  for (const auto& e : store.params()) h5::write_tensor(f, prefix + "params/" + e.name, e.value);
  for (const auto& e : store.buffers()) h5::write_tensor(f, prefix + "buffers/" + e.name, e.value);
  if (optim) {
    for (const auto& e : store.params()) {
      h5::write_tensor(f, prefix + "optim/m/" + e.name, detail::slice_of(optim->first_moment(), e));
      h5::write_tensor(f, prefix + "optim/v/" + e.name, detail::slice_of(optim->second_moment(), e));
    }
    f.set_attr(prefix + "optim", "step", optim->steps());
  }
  if (ema)
    for (const auto& e : store.params()) h5::write_tensor(f, prefix + "ema/" + e.name, detail::slice_of(*ema, e));
}

// `extra` writes more groups into the same file before it is renamed into place (the discriminator).
template <class T, class Space>
void save_checkpoint(const std::string& path, const CheckpointMeta& meta, const ParamStore<T, Space>& store,
                     const Adam<T, Space>* optim = nullptr,
                     const std::map<std::string, std::vector<double>>& metrics = {},
                     const Tensor<T, Space>* ema = nullptr,
                     const std::function<void(h5::File&)>& extra = {}) {
  h5::write_atomic(path, [&](h5::File& f) {
    f.set_attr("/", "format", checkpoint_format);
    f.set_attr("/", "version", checkpoint_version);
    f.set_attr("/", "kind", meta.kind);
    f.set_attr("/", "step", meta.step);
    f.set_attr("/", "epoch", meta.epoch);
    f.set_attr("/", "config", meta.config);
    f.set_attr("/", "world_size", meta.world_size);
    write_store_groups(f, "", store, optim, ema);
    f.write("rng/seed", std::vector<std::int64_t>{std::int64_t(meta.seed)}, {1});
    f.write("rng/step", std::vector<std::int64_t>{meta.step}, {1});
    for (const auto& [name, series] : metrics)
      f.write("metrics/" + name, series, {hsize_t(series.size())});
    if (extra) extra(f);
  });
}

// Reads the groups write_store_groups wrote under `prefix` into an allocated store (optim and ema when
// given), checking every name and shape first so that an error names the first tensor that differs.
template <class T, class Space>
void read_store_groups(const h5::File& f, const std::string& path, const std::string& prefix,
                       ParamStore<T, Space>& store, Adam<T, Space>* optim, Tensor<T, Space>* ema) {
  auto load_group = [&](const std::string& group, const std::vector<typename ParamStore<T, Space>::Entry>& entries,
                        auto&& target) {
    for (const auto& e : entries) {
      const std::string name = group + "/" + e.name;
      IBQ_CHECK(f.exists(name), "'" << path << "': missing '" << name
                                    << "' (the checkpoint was written by a different model configuration)");
      const auto dims = f.dims(name);
      const Shape s = Shape::from_range(dims.begin(), dims.end());
      IBQ_CHECK(s == e.shape, "'" << path << "': '" << name << "' has shape " << s << ", the model expects " << e.shape
                                  << " (the checkpoint was written by a different model configuration)");
    }
    auto stored = f.exists(group) ? f.datasets(group) : std::vector<std::string>{};
    if (stored.size() != entries.size()) {
      std::set<std::string> known;
      for (const auto& e : entries) known.insert(e.name);
      for (const auto& name : stored)
        IBQ_CHECK(known.count(name), "'" << path << "': '" << group << "/" << name
                                         << "' is not a tensor of this model (the checkpoint was written by a "
                                            "different model configuration)");
    }
    for (const auto& e : entries) target(e).copy_from_(h5::read_tensor<T, Space>(f, group + "/" + e.name));
  };
  load_group(prefix + "params", store.params(), [](const auto& e) -> const Tensor<T, Space>& { return e.value; });
  load_group(prefix + "buffers", store.buffers(), [](const auto& e) -> const Tensor<T, Space>& { return e.value; });
  store.mark_values_modified();
  if (optim) {
    IBQ_CHECK(f.exists(prefix + "optim"),
              "'" << path << "' has no optimizer state (" << prefix << "optim/); resume needs a training checkpoint");
    load_group(prefix + "optim/m", store.params(), [&](const auto& e) { return detail::slice_of(optim->first_moment(), e); });
    load_group(prefix + "optim/v", store.params(), [&](const auto& e) { return detail::slice_of(optim->second_moment(), e); });
    optim->set_steps(f.attr<std::int64_t>(prefix + "optim", "step"));
  }
  if (ema) {
    IBQ_CHECK(f.exists(prefix + "ema"),
              "'" << path << "' has no EMA weights (" << prefix << "ema/); it was not written by a training run");
    load_group(prefix + "ema", store.params(), [&](const auto& e) { return detail::slice_of(*ema, e); });
  }
}

// Reads a checkpoint into an allocated store whose parameters were declared by the same model config.
// Every mismatch (format, version, kind, a missing/extra/mis-shaped tensor) is an error that says what differs.
template <class T, class Space>
CheckpointMeta load_checkpoint(const std::string& path, const std::string& expected_kind, ParamStore<T, Space>& store,
                               Adam<T, Space>* optim = nullptr, Tensor<T, Space>* ema = nullptr) {
  h5::File f(path, h5::File::Mode::read);
  IBQ_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == checkpoint_format,
            "'" << path << "' is not an ibq checkpoint (no format=\"" << checkpoint_format << "\" attribute)");
  const auto version = f.attr<std::int64_t>("/", "version");
  IBQ_CHECK(version == checkpoint_version, "'" << path << "' has checkpoint version " << version << "; this build reads "
                                               << checkpoint_version);
  CheckpointMeta meta;
  meta.kind = f.attr_string("/", "kind");
  IBQ_CHECK(expected_kind.empty() || meta.kind == expected_kind,
            "'" << path << "' holds a " << meta.kind << " checkpoint, expected a " << expected_kind << " one");
  meta.step = f.attr<std::int64_t>("/", "step");
  meta.epoch = f.attr<std::int64_t>("/", "epoch");
  meta.config = f.attr_string("/", "config");
  meta.world_size = f.attr<std::int64_t>("/", "world_size");
  if (f.exists("rng/seed")) meta.seed = std::uint64_t(f.read<std::int64_t>("rng/seed").at(0));

  read_store_groups(f, path, "", store, optim, ema);
  return meta;
}

// The metric time series stored with a checkpoint (to continue them on resume).
inline std::map<std::string, std::vector<double>> load_checkpoint_metrics(const std::string& path) {
  h5::File f(path, h5::File::Mode::read);
  std::map<std::string, std::vector<double>> metrics;
  if (f.exists("metrics"))
    for (const auto& name : f.datasets("metrics")) metrics[name] = f.read<double>("metrics/" + name);
  return metrics;
}

}  // namespace ibq
