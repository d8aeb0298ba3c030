// ibq/metrics/inception_weights.hpp — the FID Inception's layers by state-dict name, and their weights from
// the HDF5 file that hpc/make_inception_weights.py writes from pytorch-fid's pt_inception-2015-12-05-6726825d.pth.
//
//   auto specs = ibq::metrics::fid_inception_convs();              // every BasicConv2d, in network order
//   auto w = ibq::metrics::load_fid_inception_weights<ibq::DefaultSpace>("pt_inception.h5");
//   w.convs.at("Mixed_6b.branch7x7_2").forward(x);                 // relu(bn(conv(x))), BN folded in
//
// The file holds pytorch-fid's names as float32 datasets at the root, and the root attribute
// format = "ibq-inception": per BasicConv2d <name>.conv.weight [out, in, kh, kw] (no bias) and
// <name>.bn.{weight, bias, running_mean, running_var} [out]; then fc.weight [1008, 2048] and fc.bias [1008].
// Each BatchNorm (eval, eps 1e-3) is folded into its convolution once, at load time:
//   s = gamma / sqrt(var + eps),  w' = w s (per output channel),  b' = beta - mean s,
// so the network runs one conv with bias and a ReLU per BasicConv2d instead of a conv, a BatchNorm pass and
// a ReLU pass. The fold is computed in double, then rounded to float once.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ibq/io/hdf5.hpp"
#include "ibq/nn/frozen_conv_relu.hpp"

namespace ibq::metrics {

// One BasicConv2d: its state-dict prefix and geometry (kernel kh x kw, padding pad_h rows, pad_w columns).
struct InceptionConvSpec {
  std::string name;
  index_t cin, cout, kh, kw, stride, pad_h, pad_w;
};

// Every BasicConv2d of pytorch-fid's fid_inception_v3(): torchvision's Inception3 stem, FIDInceptionA
// (Mixed_5b-d), InceptionB (Mixed_6a), FIDInceptionC (Mixed_6b-e), InceptionD (Mixed_7a) and
// FIDInceptionE_1/_2 (Mixed_7b/c); the FID variants change pools, not convolutions.
inline std::vector<InceptionConvSpec> fid_inception_convs() {
  std::vector<InceptionConvSpec> v;
  struct Add {  // add(name, in, out, kh, kw[, stride[, pad_h, pad_w]])
    std::vector<InceptionConvSpec>& v;
    void operator()(const std::string& name, index_t cin, index_t cout, index_t kh, index_t kw, index_t stride = 1,
                    index_t ph = 0, index_t pw = 0) const {
      v.push_back({name, cin, cout, kh, kw, stride, ph, pw});
    }
  } add{v};
  add("Conv2d_1a_3x3", 3, 32, 3, 3, 2);
  add("Conv2d_2a_3x3", 32, 32, 3, 3);
  add("Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1);
  add("Conv2d_3b_1x1", 64, 80, 1, 1);
  add("Conv2d_4a_3x3", 80, 192, 3, 3);
  const std::pair<const char*, index_t> a_blocks[] = {{"Mixed_5b", 32}, {"Mixed_5c", 64}, {"Mixed_5d", 64}};
  index_t in = 192;
  for (const auto& [p, pool] : a_blocks) {  // InceptionA(in, pool_features)
    const std::string b = std::string(p) + ".";
    add(b + "branch1x1", in, 64, 1, 1);
    add(b + "branch5x5_1", in, 48, 1, 1);
    add(b + "branch5x5_2", 48, 64, 5, 5, 1, 2, 2);
    add(b + "branch3x3dbl_1", in, 64, 1, 1);
    add(b + "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
    add(b + "branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1);
    add(b + "branch_pool", in, pool, 1, 1);
    in = 224 + pool;
  }
  add("Mixed_6a.branch3x3", 288, 384, 3, 3, 2);  // InceptionB(288)
  add("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1);
  add("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1);
  add("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3, 2);
  const std::pair<const char*, index_t> c_blocks[] = {
      {"Mixed_6b", 128}, {"Mixed_6c", 160}, {"Mixed_6d", 160}, {"Mixed_6e", 192}};
  for (const auto& [p, c7] : c_blocks) {  // InceptionC(768, channels_7x7)
    const std::string b = std::string(p) + ".";
    add(b + "branch1x1", 768, 192, 1, 1);
    add(b + "branch7x7_1", 768, c7, 1, 1);
    add(b + "branch7x7_2", c7, c7, 1, 7, 1, 0, 3);
    add(b + "branch7x7_3", c7, 192, 7, 1, 1, 3, 0);
    add(b + "branch7x7dbl_1", 768, c7, 1, 1);
    add(b + "branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0);
    add(b + "branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3);
    add(b + "branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0);
    add(b + "branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3);
    add(b + "branch_pool", 768, 192, 1, 1);
  }
  add("Mixed_7a.branch3x3_1", 768, 192, 1, 1);  // InceptionD(768)
  add("Mixed_7a.branch3x3_2", 192, 320, 3, 3, 2);
  add("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1);
  add("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3);
  add("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0);
  add("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3, 2);
  for (const auto& [p, cin] : {std::pair<const char*, index_t>{"Mixed_7b", 1280}, {"Mixed_7c", 2048}}) {
    const std::string b = std::string(p) + ".";  // InceptionE(in)
    add(b + "branch1x1", cin, 320, 1, 1);
    add(b + "branch3x3_1", cin, 384, 1, 1);
    add(b + "branch3x3_2a", 384, 384, 1, 3, 1, 0, 1);
    add(b + "branch3x3_2b", 384, 384, 3, 1, 1, 1, 0);
    add(b + "branch3x3dbl_1", cin, 448, 1, 1);
    add(b + "branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1);
    add(b + "branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1);
    add(b + "branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0);
    add(b + "branch_pool", cin, 192, 1, 1);
  }
  return v;
}

inline constexpr double inception_bn_eps = 1e-3;  // torchvision's BasicConv2d: BatchNorm2d(eps=0.001)
inline constexpr index_t inception_features = 2048, inception_classes = 1008;

template <class Space>
struct FidInceptionWeights {
  std::map<std::string, FrozenConvRelu<float, Space>> convs;  // by BasicConv2d name, BatchNorm folded in
  Tensor<float, Space> fc_weight, fc_bias;                    // [1008, 2048], [1008]
};

// Reads and folds every tensor; a missing file, attribute, dataset or shape is an error naming the file and
// the dataset (with both shapes) and saying how to make the file.
template <class Space = DefaultSpace>
FidInceptionWeights<Space> load_fid_inception_weights(const std::string& path) {
  const std::string how = "; make it with 'python3 hpc/make_inception_weights.py "
                          "pt_inception-2015-12-05-6726825d.pth " + path +
                          "' from pytorch-fid's FID weights (https://github.com/mseitzer/pytorch-fid/releases/"
                          "download/fid_weights/pt_inception-2015-12-05-6726825d.pth)";
  std::unique_ptr<h5::File> file;
  try {
    file = std::make_unique<h5::File>(path, h5::File::Mode::read);
  } catch (const Error& e) {
    IBQ_THROW("FID Inception weights: " << e.what() << how);
  }
  const h5::File& f = *file;
  IBQ_CHECK(f.has_attr("/", "format") && f.attr_string("/", "format") == "ibq-inception",
            "FID Inception weights '" << path << "' lack the root attribute format = \"ibq-inception\" (not a file "
                                      << "written by hpc/make_inception_weights.py?)" << how);
  // A dataset of the expected shape, as double on the host.
  auto read = [&](const std::string& name, const Shape& want) {
    IBQ_CHECK(f.exists(name), "FID Inception weights '" << path << "' lack '" << name << "' (expected shape " << want
                                                        << ")" << how);
    const auto dims = f.dims(name);
    const Shape got = Shape::from_range(dims.begin(), dims.end());
    IBQ_CHECK(got == want, "FID Inception weights '" << path << "': '" << name << "' has shape " << got
                                                     << ", expected " << want << how);
    return f.read<double>(name);
  };
  FidInceptionWeights<Space> w;
  for (const auto& s : fid_inception_convs()) {
    auto weight = read(s.name + ".conv.weight", Shape{s.cout, s.cin, s.kh, s.kw});
    const Shape c{s.cout};
    const auto gamma = read(s.name + ".bn.weight", c), beta = read(s.name + ".bn.bias", c);
    const auto mean = read(s.name + ".bn.running_mean", c), var = read(s.name + ".bn.running_var", c);
    const std::size_t per_out = std::size_t(s.cin * s.kh * s.kw);
    std::vector<float> wf(weight.size()), bf(std::size_t(s.cout));
    for (std::size_t o = 0; o < std::size_t(s.cout); ++o) {
      IBQ_CHECK(var[o] >= 0, "FID Inception weights '" << path << "': '" << s.name << ".bn.running_var' holds a "
                                                       << "negative variance " << var[o] << " (channel " << o << ")"
                                                       << how);
      const double scale = gamma[o] / std::sqrt(var[o] + inception_bn_eps);
      for (std::size_t k = 0; k < per_out; ++k) wf[o * per_out + k] = float(weight[o * per_out + k] * scale);
      bf[o] = float(beta[o] - mean[o] * scale);
    }
    w.convs.emplace(s.name, FrozenConvRelu<float, Space>(
                                Tensor<float, Space>::from_host(Shape{s.cout, s.cin, s.kh, s.kw}, wf),
                                Tensor<float, Space>::from_host(c, bf),
                                Conv2dArgs{s.stride, s.pad_h, s.pad_h, s.pad_w, s.pad_w}));
  }
  auto to_float = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  const Shape fc{inception_classes, inception_features}, fcb{inception_classes};
  w.fc_weight = Tensor<float, Space>::from_host(fc, to_float(read("fc.weight", fc)));
  w.fc_bias = Tensor<float, Space>::from_host(fcb, to_float(read("fc.bias", fcb)));
  return w;
}

}  // namespace ibq::metrics
