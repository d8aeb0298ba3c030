// ibq/io/h5_walk.hpp — what is inside any HDF5 file: its tree, attributes, dataset types and shapes, and
// per-dataset statistics streamed block by block (a multi-GB tensor is never held in memory, let alone twice).
//
//   ibq::h5::File f("run/model.h5", ibq::h5::File::Mode::read);
//   for (const auto& obj : ibq::h5::walk(f)) {              // depth first, names in order within a group
//     for (const auto& a : ibq::h5::attributes(f, obj.path)) ...;
//     if (obj.kind != ibq::h5::ObjectKind::dataset) continue;
//     auto info = ibq::h5::dataset_info(f, obj.path);      // dtype "float32", dims, chunks, filters
//     if (info.numeric) auto st = ibq::h5::dataset_stats(f, obj.path);  // mean, std, min, max, NaN, Inf
//   }
//   ibq::h5::for_each_block(f, "tokens", [](const auto* v, std::size_t n, std::uint64_t first_index) { ... });
//
// Works on files from any writer (h5py, h5dump's tests, our drivers): every numeric type is read in its own
// C++ type (float, double, int8..int64, uint8..uint64), so integers stay exact and NaN/Inf survive.
// Printing is the caller's business; this header only finds, reads and summarises.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ibq/io/hdf5.hpp"

namespace ibq::h5 {

enum class ObjectKind { group, dataset, named_datatype, soft_link, external_link, other };

struct Object {
  std::string path;    // relative to the root, no leading '/': "params/fc1.weight"
  ObjectKind kind = ObjectKind::other;
  std::string target;  // soft link: the path it points to; external link: "file:/path"
  int depth = 0;       // 0 for children of the root
};

struct Attribute {
  std::string name;
  std::string dtype;                // "int64", "float32", "string", "compound", ...
  std::vector<hsize_t> dims;        // empty for a scalar
  std::uint64_t count = 0;          // elements stored
  bool is_string = false;
  std::vector<std::string> values;  // the first max_values elements as text (strings verbatim); empty if
                                    // the type has no text form (compound, enum, reference, ...)
};

struct DatasetInfo {
  std::string dtype;
  bool numeric = false;              // readable by for_each_block / dataset_stats
  std::vector<hsize_t> dims;         // empty for a scalar
  std::vector<hsize_t> chunk;        // empty unless chunked
  std::vector<std::string> filters;  // "deflate(4)", "shuffle", ...
  std::uint64_t numel = 1;
  std::uint64_t stored_bytes = 0;    // on disk, after compression
};

// Streaming summary of a tensor. mean/std/min/max are over the finite values (NaN when there are none);
// std is the population one (divides by the count, as numpy's default).
struct TensorStats {
  std::uint64_t count = 0, nan = 0, inf = 0;

  std::uint64_t finite() const { return count - nan - inf; }
  double mean() const { return finite() ? mean_ : std::nan(""); }
  double stddev() const { return finite() ? std::sqrt(m2_ / double(finite())) : std::nan(""); }
  double min() const { return finite() ? min_ : std::nan(""); }
  double max() const { return finite() ? max_ : std::nan(""); }

  // Two passes over the block (exact enough in double for any block size), merged into the running
  // totals with Chan et al.'s pairwise update, which stays accurate over billions of values.
  template <class T>
  void add(const T* v, std::size_t n) {
    TensorStats b;
    b.count = n;
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double x = double(v[i]);
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(x)) { ++b.nan; continue; }
        if (std::isinf(x)) { ++b.inf; continue; }
      }
      sum += x;
      b.min_ = std::min(b.min_, x);
      b.max_ = std::max(b.max_, x);
    }
    const std::uint64_t k = b.finite();
    if (k) {
      b.mean_ = sum / double(k);
      for (std::size_t i = 0; i < n; ++i) {
        const double x = double(v[i]);
        if (std::isfinite(x)) b.m2_ += (x - b.mean_) * (x - b.mean_);
      }
    }
    merge(b);
  }

  void merge(const TensorStats& b) {
    const double na = double(finite()), nb = double(b.finite());
    if (nb > 0) {
      const double delta = b.mean_ - mean_, total = na + nb;
      mean_ += delta * nb / total;
      m2_ += b.m2_ + delta * delta * na * nb / total;
      min_ = std::min(min_, b.min_);
      max_ = std::max(max_, b.max_);
    }
    count += b.count, nan += b.nan, inf += b.inf;
  }

 private:
  double mean_ = 0, m2_ = 0;
  double min_ = std::numeric_limits<double>::infinity(), max_ = -std::numeric_limits<double>::infinity();
};

// Elements per read: 1 Mi values (4-8 MB) keeps memory flat and each HDF5 call large enough to be fast.
inline constexpr std::uint64_t default_block_elements = std::uint64_t(1) << 20;

// Shortest text that reads back to the same value ("0.1" for 0.1f, not "0.100000001"); integers exactly.
template <class T>
std::string to_text(T v) {
  char buf[64];
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    for (int p = 6; p <= std::numeric_limits<T>::max_digits10; ++p) {
      std::snprintf(buf, sizeof buf, "%.*g", p, double(v));
      if (T(std::strtod(buf, nullptr)) == v) break;
    }
  } else if constexpr (std::is_signed_v<T>) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
  }
  return buf;
}

// numpy-style name of a stored type: float32, int64, uint8, string, compound, enum, ...
inline std::string type_name(hid_t type) {
  const std::size_t bits = 8 * H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT: return "float" + std::to_string(bits);
    case H5T_STRING: return "string";  // fixed or variable length: the difference is the writer's business
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "vlen";
    case H5T_OPAQUE: return "opaque";
    case H5T_BITFIELD: return "bitfield";
    case H5T_REFERENCE: return "reference";
    case H5T_TIME: return "time";
    default: return "unknown";
  }
}

// Calls fn(T{}) with the C++ type that holds the stored numbers without loss (float16 -> float); returns
// false, calling nothing, for non-numeric types.
template <class Fn>
bool with_numeric_type(hid_t type, Fn&& fn) {
  const std::size_t size = H5Tget_size(type);
  const H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_FLOAT) {
    if (size <= 4) fn(float{});
    else fn(double{});
    return true;
  }
  if (cls != H5T_INTEGER) return false;
  const bool is_signed = H5Tget_sign(type) != H5T_SGN_NONE;
  switch (size) {
    case 1: is_signed ? fn(std::int8_t{}) : fn(std::uint8_t{}); break;
    case 2: is_signed ? fn(std::int16_t{}) : fn(std::uint16_t{}); break;
    case 4: is_signed ? fn(std::int32_t{}) : fn(std::uint32_t{}); break;
    default: is_signed ? fn(std::int64_t{}) : fn(std::uint64_t{}); break;
  }
  return true;
}

template <class T>
hid_t memory_type() {
  if constexpr (std::is_same_v<T, std::int8_t>) return H5T_NATIVE_INT8;
  else if constexpr (std::is_same_v<T, std::int16_t>) return H5T_NATIVE_INT16;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return H5T_NATIVE_UINT16;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return H5T_NATIVE_UINT32;
  else return native_type<T>();
}

// Every object below `group`, depth first, links in name order within each group; a group reached twice
// through hard links is entered once (HDF5 guarantees it, so cyclic files terminate). Soft and external
// links are listed, not followed.
inline std::vector<Object> walk(const File& f, const std::string& group = "/") {
  std::vector<Object> out;
  Handle g(H5Gopen2(f.id(), group.c_str(), H5P_DEFAULT), H5Gclose);
  IBQ_CHECK(g.ok(), "HDF5 '" << f.path() << "': '" << group << "' is not a group");
  auto visit = [](hid_t loc, const char* name, const H5L_info_t* info, void* data) -> herr_t {
    Object o;
    o.path = name;
    o.depth = int(std::count(o.path.begin(), o.path.end(), '/'));
    if (info->type == H5L_TYPE_HARD) {
      Handle obj(H5Oopen(loc, name, H5P_DEFAULT), H5Oclose);
      const H5I_type_t t = obj.ok() ? H5Iget_type(obj) : H5I_BADID;
      o.kind = t == H5I_GROUP ? ObjectKind::group
               : t == H5I_DATASET ? ObjectKind::dataset
               : t == H5I_DATATYPE ? ObjectKind::named_datatype
                                   : ObjectKind::other;
    } else if (info->type == H5L_TYPE_SOFT || info->type == H5L_TYPE_EXTERNAL) {
      std::vector<char> val(info->u.val_size + 1, '\0');
      if (H5Lget_val(loc, name, val.data(), val.size(), H5P_DEFAULT) >= 0) {
        if (info->type == H5L_TYPE_SOFT) {
          o.kind = ObjectKind::soft_link;
          o.target = val.data();
        } else {
          o.kind = ObjectKind::external_link;
          const char *file = nullptr, *path = nullptr;
          if (H5Lunpack_elink_val(val.data(), val.size(), nullptr, &file, &path) >= 0)
            o.target = std::string(file ? file : "?") + ":" + (path ? path : "?");
        }
      }
    }
    static_cast<std::vector<Object>*>(data)->push_back(std::move(o));
    return 0;
  };
  IBQ_CHECK(H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, visit, &out) >= 0,
            "HDF5 '" << f.path() << "': cannot list the objects under '" << group << "' (corrupt file?)");
  return out;
}

inline std::vector<std::string> dataset_names(const File& f) {
  std::vector<std::string> out;
  for (const auto& o : walk(f))
    if (o.kind == ObjectKind::dataset) out.push_back(o.path);
  return out;
}

namespace detail {

inline std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      const std::size_t next = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = row[j];
      row[j] = next;
    }
  }
  return row[b.size()];
}

inline std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace detail

// Up to `max` of `names` that look like `query`: a typo away from the full path or the last component
// ("fc1.wieght" finds "params/fc1.weight"), or containing it. Closest first.
inline std::vector<std::string> close_names(const std::vector<std::string>& names, std::string query,
                                            std::size_t max = 5) {
  while (!query.empty() && query.front() == '/') query.erase(0, 1);
  const std::size_t limit = std::max<std::size_t>(2, query.size() / 3);
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& n : names) {
    const std::string base = n.substr(n.rfind('/') == std::string::npos ? 0 : n.rfind('/') + 1);
    std::size_t score = std::min(detail::edit_distance(query, n), detail::edit_distance(query, base));
    if (!query.empty() && detail::lower(n).find(detail::lower(query)) != std::string::npos) score = std::min<std::size_t>(score, 1);
    if (score <= limit) scored.emplace_back(score, n);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < max; ++i) out.push_back(scored[i].second);
  return out;
}

// Throws unless `name` is a dataset, naming the file and what to ask for instead: similar names for a
// typo, the datasets it holds for a group.
inline void require_dataset(const File& f, const std::string& name) {
  const bool found = f.exists(name);
  if (found) {
    Handle obj(H5Oopen(f.id(), name.c_str(), H5P_DEFAULT), H5Oclose);
    if (obj.ok() && H5Iget_type(obj) == H5I_DATASET) return;
  }
  const auto all = dataset_names(f);
  std::vector<std::string> hints;
  if (found) {
    std::string prefix = name;
    while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    for (const auto& n : all)
      if (n.compare(0, prefix.size(), prefix) == 0) hints.push_back(n);
  } else {
    hints = close_names(all, name);
  }
  std::string list;
  for (std::size_t i = 0; i < hints.size() && i < 5; ++i) list += (i ? ", " : "") + hints[i];
  if (hints.size() > 5) list += ", ... (" + std::to_string(hints.size()) + " in all)";
  if (found)
    IBQ_THROW("HDF5 '" << f.path() << "': '" << name << "' is not a dataset"
                       << (hints.empty() ? std::string("; it holds none") : "; datasets under it: " + list));
  IBQ_THROW("HDF5 '" << f.path() << "': no dataset '" << name << "'"
                     << (hints.empty() ? "; none of its " + std::to_string(all.size()) + " datasets has a similar name"
                                       : "; close names: " + list));
}

namespace detail {

inline std::vector<hsize_t> extent(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> d(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, d.data(), nullptr);
  return d;
}

inline std::uint64_t numel(const std::vector<hsize_t>& dims) {
  std::uint64_t n = 1;
  for (hsize_t d : dims) n *= d;
  return n;
}

inline std::vector<std::string> attribute_values(hid_t attr, hid_t type, std::uint64_t n, std::size_t max_values) {
  std::vector<std::string> out;
  if (n == 0) return out;
  const std::size_t shown = std::size_t(std::min<std::uint64_t>(n, max_values));
  if (H5Tget_class(type) == H5T_STRING) {
    if (H5Tis_variable_str(type) > 0) {
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem, H5T_VARIABLE);
      H5Tset_cset(mem, H5Tget_cset(type));  // HDF5 converts no UTF-8 string to ASCII, and h5py writes UTF-8
      std::vector<char*> s(n, nullptr);
      if (H5Aread(attr, mem, s.data()) >= 0) {
        for (std::size_t i = 0; i < shown; ++i) out.emplace_back(s[i] ? s[i] : "");
        for (char* p : s) H5free_memory(p);
      }
    } else {
      const std::size_t size = H5Tget_size(type);
      std::vector<char> buf(n * size);
      if (H5Aread(attr, type, buf.data()) >= 0)
        for (std::size_t i = 0; i < shown; ++i) {
          std::string v(buf.data() + i * size, size);
          const char pad = H5Tget_strpad(type) == H5T_STR_SPACEPAD ? ' ' : '\0';
          while (!v.empty() && (v.back() == '\0' || v.back() == pad)) v.pop_back();
          out.push_back(std::move(v));
        }
    }
    return out;
  }
  with_numeric_type(type, [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> v(n);
    if (H5Aread(attr, memory_type<T>(), v.data()) >= 0)
      for (std::size_t i = 0; i < shown; ++i) out.push_back(to_text(v[i]));
  });
  return out;
}

}  // namespace detail

// The attributes of an object ("/" or "" for the root), in name order; values of long arrays are cut
// after max_values elements (Attribute::count says how many there are).
inline std::vector<Attribute> attributes(const File& f, const std::string& object, std::size_t max_values = 16) {
  const std::string obj = object.empty() ? "/" : object;
  Handle o(H5Oopen(f.id(), obj.c_str(), H5P_DEFAULT), H5Oclose);
  IBQ_CHECK(o.ok(), "HDF5 '" << f.path() << "': no object '" << obj << "'");
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t idx = 0;
  IBQ_CHECK(H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, collect, &names) >= 0,
            "HDF5 '" << f.path() << "': cannot list the attributes of '" << obj << "'");
  std::vector<Attribute> out;
  for (const auto& name : names) {
    Handle a(H5Aopen(o, name.c_str(), H5P_DEFAULT), H5Aclose);
    IBQ_CHECK(a.ok(), "HDF5 '" << f.path() << "': cannot open attribute '" << obj << ":" << name << "'");
    Handle type(H5Aget_type(a), H5Tclose);
    Handle space(H5Aget_space(a), H5Sclose);
    Attribute at;
    at.name = name;
    at.dtype = type_name(type);
    at.dims = detail::extent(space);
    at.count = H5Sget_simple_extent_type(space) == H5S_NULL ? 0 : detail::numel(at.dims);
    at.is_string = H5Tget_class(type) == H5T_STRING;
    at.values = detail::attribute_values(a, type, at.count, max_values);
    out.push_back(std::move(at));
  }
  return out;
}

inline DatasetInfo dataset_info(const File& f, const std::string& name) {
  require_dataset(f, name);
  Handle ds(H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle type(H5Dget_type(ds), H5Tclose);
  Handle space(H5Dget_space(ds), H5Sclose);
  Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  DatasetInfo info;
  info.dtype = type_name(type);
  info.numeric = with_numeric_type(type, [](auto) {});
  info.dims = detail::extent(space);
  info.numel = H5Sget_simple_extent_type(space) == H5S_NULL ? 0 : detail::numel(info.dims);
  info.stored_bytes = H5Dget_storage_size(ds);
  if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
    info.chunk.resize(info.dims.size());
    H5Pget_chunk(dcpl, int(info.chunk.size()), info.chunk.data());
  }
  for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
    unsigned flags = 0, cd[8] = {};
    std::size_t ncd = 8;
    char fname[64] = {};
    const H5Z_filter_t id = H5Pget_filter2(dcpl, unsigned(i), &flags, &ncd, cd, sizeof fname, fname, nullptr);
    std::string text = fname[0] ? fname : "filter" + std::to_string(id);
    if (id == H5Z_FILTER_DEFLATE && ncd > 0) text = "deflate(" + std::to_string(cd[0]) + ")";
    info.filters.push_back(text);
  }
  return info;
}

namespace detail {

// Reads the dataset as hyperslabs of at most max_elements values, in row-major order, and hands each to
// visit(const T*, n, flat index of the first). The slab is cut along the outermost axis whose trailing
// block fits, aligned to the chunk grid where it can be so compressed chunks are not decoded repeatedly.
template <class T, class Visitor>
void stream_blocks(const File& f, const std::string& name, hid_t ds, const DatasetInfo& info, Visitor& visit,
                   std::uint64_t max_elements, std::uint64_t begin, std::uint64_t end) {
  end = std::min(end, info.numel);
  if (begin >= end) return;
  const std::size_t rank = info.dims.size();
  if (rank == 0) {  // a scalar
    T v{};
    IBQ_CHECK(H5Dread(ds, memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0,
              "HDF5 '" << f.path() << "': reading '" << name << "' failed (corrupt file?)");
    visit(&v, std::size_t(1), std::uint64_t(0));
    return;
  }
  max_elements = std::max<std::uint64_t>(max_elements, 1);
  std::size_t axis = 0;  // the split axis: everything after it is read whole
  std::uint64_t inner = numel(info.dims) / std::max<hsize_t>(info.dims[0], 1);
  while (inner > max_elements && axis + 1 < rank) inner /= std::max<hsize_t>(info.dims[++axis], 1);
  hsize_t step = hsize_t(std::max<std::uint64_t>(1, std::min<std::uint64_t>(max_elements / inner, info.dims[axis])));
  if (!info.chunk.empty() && step >= info.chunk[axis]) step -= step % info.chunk[axis];

  Handle file_space(H5Dget_space(ds), H5Sclose);
  std::vector<T> buf(std::size_t(step * inner));
  std::vector<hsize_t> start(rank, 0), count(info.dims);
  const std::uint64_t outer = numel(std::vector<hsize_t>(info.dims.begin(), info.dims.begin() + axis));
  for (std::uint64_t o = 0; o < outer; ++o) {
    for (std::size_t a = axis, rest = std::size_t(o); a-- > 0; rest /= std::size_t(info.dims[a])) {
      start[a] = rest % info.dims[a];
      count[a] = 1;
    }
    for (hsize_t j = 0; j < info.dims[axis]; j += step) {
      const std::uint64_t first = (o * info.dims[axis] + j) * inner;
      count[axis] = std::min<hsize_t>(step, info.dims[axis] - j);
      const std::uint64_t n = count[axis] * inner;
      if (first + n <= begin) continue;
      if (first >= end) return;
      start[axis] = j;
      H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
      Handle mem_space(H5Screate_simple(int(rank), count.data(), nullptr), H5Sclose);
      IBQ_CHECK(H5Dread(ds, memory_type<T>(), mem_space, file_space, H5P_DEFAULT, buf.data()) >= 0,
                "HDF5 '" << f.path() << "': reading '" << name << "' at element " << first
                         << " failed (corrupt file or a missing compression filter?)");
      const std::uint64_t lo = std::max(begin, first) - first, hi = std::min(end, first + n) - first;
      visit(buf.data() + lo, std::size_t(hi - lo), first + lo);
    }
  }
}

}  // namespace detail

inline void require_numeric(const File& f, const std::string& name, const DatasetInfo& info) {
  IBQ_CHECK(info.numeric, "HDF5 '" << f.path() << "': '" << name << "' holds " << info.dtype
                                   << " data, not numbers (h5dump -d " << name << " shows it)");
}

// Streams the values with flat (row-major) index in [begin, end) of a numeric dataset, in order, as blocks
// of at most max_elements: visit(const T* values, std::size_t n, std::uint64_t first_index), where T is the
// stored type's own C++ type (so visit is usually a generic lambda). Blocks outside the range are not read.
template <class Visitor>
void for_each_block(const File& f, const std::string& name, Visitor&& visit,
                    std::uint64_t max_elements = default_block_elements, std::uint64_t begin = 0,
                    std::uint64_t end = std::numeric_limits<std::uint64_t>::max()) {
  const DatasetInfo info = dataset_info(f, name);
  require_numeric(f, name, info);
  Handle ds(H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle type(H5Dget_type(ds), H5Tclose);
  with_numeric_type(type, [&](auto tag) {
    detail::stream_blocks<decltype(tag)>(f, name, ds, info, visit, max_elements, begin, end);
  });
}

inline TensorStats dataset_stats(const File& f, const std::string& name,
                                 std::uint64_t max_elements = default_block_elements) {
  TensorStats s;
  for_each_block(f, name, [&](const auto* v, std::size_t n, std::uint64_t) { s.add(v, n); }, max_elements);
  return s;
}

}  // namespace ibq::h5
