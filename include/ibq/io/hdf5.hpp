// ibq/io/hdf5.hpp — a thin RAII layer over the HDF5 C API: datasets, attributes, atomic writes.
//
//   ibq::h5::write_atomic("model.h5", [&](ibq::h5::File& f) {
//     f.set_attr("/", "format", std::string("ibq"));
//     ibq::h5::write_tensor(f, "params/fc.weight", w);        // intermediate groups are created
//   });                                                         // written to a temp file, then renamed
//   ibq::h5::File f("model.h5", ibq::h5::File::Mode::read);
//   auto w2 = ibq::h5::read_tensor<float>(f, "params/fc.weight");
//
// Every failure throws ibq::Error naming the file and the object; HDF5's own error stack printing is
// switched off so a driver prints one line, not a page.
#pragma once

#include <algorithm>
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/core/tensor.hpp"

namespace ibq::h5 {

template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int32_t>) return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return H5T_NATIVE_UINT8;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return H5T_NATIVE_UINT64;
  else static_assert(sizeof(T) == 0, "ibq::h5: unsupported element type");
}

// Closes an HDF5 handle on scope exit.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  operator hid_t() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

class File {
 public:
  enum class Mode { read, read_write, create };

  File(const std::string& path, Mode mode) : path_(path) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, once
    if (mode == Mode::create) {
      id_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
      IBQ_CHECK(id_ >= 0, "cannot create HDF5 file '" << path << "': check that the folder exists and is writable");
    } else {
      IBQ_CHECK(access(path.c_str(), R_OK) == 0, "cannot read '" << path << "': no such file or no permission");
      IBQ_CHECK(H5Fis_hdf5(path.c_str()) > 0,
                "'" << path << "' is not an HDF5 file (truncated or corrupt?); re-create it");
      id_ = H5Fopen(path.c_str(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
      IBQ_CHECK(id_ >= 0, "cannot open HDF5 file '" << path << "' (corrupt or locked by another process?)");
    }
  }
  ~File() { close(); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  void close() {
    if (id_ >= 0) H5Fclose(id_);
    id_ = -1;
  }
  void flush() const { H5Fflush(id_, H5F_SCOPE_GLOBAL); }
  hid_t id() const { return id_; }
  const std::string& path() const { return path_; }

  // True if every component of the '/'-separated path exists.
  bool exists(const std::string& name) const {
    std::string partial;
    std::size_t pos = 0;
    while (pos != std::string::npos) {
      const std::size_t next = name.find('/', pos);
      partial = name.substr(0, next);
      pos = next == std::string::npos ? next : next + 1;
      if (partial.empty() || partial == "/") continue;
      if (H5Lexists(id_, partial.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    return true;
  }

  template <class T>
  void write(const std::string& name, const T* data, const std::vector<hsize_t>& dims, int compress_level = 0) {
    Handle space(H5Screate_simple(int(dims.size()), dims.empty() ? nullptr : dims.data(), nullptr), H5Sclose);
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl, 1);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    hsize_t n = 1;
    for (hsize_t d : dims) n *= d;
    if (compress_level > 0 && n > 0 && !dims.empty()) {
      std::vector<hsize_t> chunk(dims);
      chunk[0] = 1;  // one leading slice per chunk: readers fetch rows (images, token grids)
      H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
      H5Pset_deflate(dcpl, unsigned(compress_level));
    }
    IBQ_CHECK(!exists(name), "HDF5 '" << path_ << "': dataset '" << name << "' already exists");
    Handle ds(H5Dcreate2(id_, name.c_str(), native_type<T>(), space, lcpl, dcpl, H5P_DEFAULT), H5Dclose);
    IBQ_CHECK(ds.ok(), "HDF5 '" << path_ << "': cannot create dataset '" << name << "'");
    if (n > 0)
      IBQ_CHECK(H5Dwrite(ds, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0,
                "HDF5 '" << path_ << "': writing '" << name << "' failed (disk full?)");
  }
  template <class T>
  void write(const std::string& name, const std::vector<T>& data, const std::vector<hsize_t>& dims,
             int compress_level = 0) {
    hsize_t n = 1;
    for (hsize_t d : dims) n *= d;
    IBQ_CHECK(n == data.size(), "HDF5 write '" << name << "': " << data.size() << " values for " << n << " elements");
    write(name, data.data(), dims, compress_level);
  }

  // A chunked, compressed dataset of rows of shape row_dims that grows along its first axis (append_rows):
  // token datasets are written a batch at a time and can be appended to later.
  template <class T>
  void create_rows(const std::string& name, const std::vector<hsize_t>& row_dims, hsize_t chunk_rows,
                   int compress_level = 4) {
    std::vector<hsize_t> dims{0}, max{H5S_UNLIMITED}, chunk{std::max<hsize_t>(1, chunk_rows)};
    for (hsize_t d : row_dims) dims.push_back(d), max.push_back(d), chunk.push_back(d);
    Handle space(H5Screate_simple(int(dims.size()), dims.data(), max.data()), H5Sclose);
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl, 1);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
    if (compress_level > 0) H5Pset_deflate(dcpl, unsigned(compress_level));
    IBQ_CHECK(!exists(name), "HDF5 '" << path_ << "': dataset '" << name << "' already exists");
    Handle ds(H5Dcreate2(id_, name.c_str(), native_type<T>(), space, lcpl, dcpl, H5P_DEFAULT), H5Dclose);
    IBQ_CHECK(ds.ok(), "HDF5 '" << path_ << "': cannot create dataset '" << name << "'");
  }
  // Appends count rows (count x the row size values) to a dataset made by create_rows.
  template <class T>
  void append_rows(const std::string& name, const T* data, hsize_t count) {
    if (count == 0) return;
    auto d = dims(name);
    const hsize_t first = d[0];
    d[0] += count;
    Handle ds(open_dataset(name), H5Dclose);
    IBQ_CHECK(H5Dset_extent(ds, d.data()) >= 0,
              "HDF5 '" << path_ << "': '" << name << "' cannot grow (it was not written as an extendible dataset)");
    Handle file_space(H5Dget_space(ds), H5Sclose);
    Handle mem_space(select_rows(file_space, d, first, count), H5Sclose);
    IBQ_CHECK(H5Dwrite(ds, native_type<T>(), mem_space, file_space, H5P_DEFAULT, data) >= 0,
              "HDF5 '" << path_ << "': appending to '" << name << "' failed (disk full?)");
  }

  std::vector<hsize_t> dims(const std::string& name) const {
    Handle ds(open_dataset(name), H5Dclose);
    Handle space(H5Dget_space(ds), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> d(rank > 0 ? rank : 0);
    if (rank > 0) H5Sget_simple_extent_dims(space, d.data(), nullptr);
    return d;
  }
  // Reads a whole dataset, converting its stored type to T (as HDF5 does for numeric types).
  template <class T>
  std::vector<T> read(const std::string& name, std::vector<hsize_t>* dims_out = nullptr) const {
    const auto d = dims(name);
    hsize_t n = 1;
    for (hsize_t v : d) n *= v;
    std::vector<T> out(n);
    Handle ds(open_dataset(name), H5Dclose);
    if (n > 0)
      IBQ_CHECK(H5Dread(ds, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0,
                "HDF5 '" << path_ << "': reading '" << name << "' failed (corrupt file or non-numeric data)");
    if (dims_out) *dims_out = d;
    return out;
  }

  // Reads rows [first, first + count) of a dataset along its first axis (a hyperslab): batches of a large
  // image shard without loading the whole file.
  template <class T>
  std::vector<T> read_rows(const std::string& name, hsize_t first, hsize_t count) const {
    const auto d = dims(name);
    IBQ_CHECK(!d.empty() && first + count <= d[0], "HDF5 '" << path_ << "': rows [" << first << ", " << first + count
                                                            << ") of '" << name << "' are out of range");
    hsize_t row = 1;
    for (std::size_t i = 1; i < d.size(); ++i) row *= d[i];
    std::vector<T> out(count * row);
    if (count == 0) return out;
    Handle ds(open_dataset(name), H5Dclose);
    Handle file_space(H5Dget_space(ds), H5Sclose);
    Handle mem_space(select_rows(file_space, d, first, count), H5Sclose);
    IBQ_CHECK(H5Dread(ds, native_type<T>(), mem_space, file_space, H5P_DEFAULT, out.data()) >= 0,
              "HDF5 '" << path_ << "': reading rows of '" << name << "' failed (corrupt file?)");
    return out;
  }

  // Attributes on an object ("/" is the root group).
  void set_attr(const std::string& obj, const std::string& key, const std::string& value) {
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, value.empty() ? 1 : value.size());
    H5Tset_cset(type, H5T_CSET_UTF8);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    write_attr(obj, key, type, space, value.empty() ? "" : value.data());
  }
  void set_attr(const std::string& obj, const std::string& key, const char* value) {
    set_attr(obj, key, std::string(value));
  }
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
  void set_attr(const std::string& obj, const std::string& key, T value) {
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    write_attr(obj, key, native_type<T>(), space, &value);
  }
  bool has_attr(const std::string& obj, const std::string& key) const {
    return H5Aexists_by_name(id_, obj.c_str(), key.c_str(), H5P_DEFAULT) > 0;
  }
  std::string attr_string(const std::string& obj, const std::string& key) const {
    Handle attr(open_attr(obj, key), H5Aclose);
    Handle type(H5Aget_type(attr), H5Tclose);
    IBQ_CHECK(H5Tget_class(type) == H5T_STRING,
              "HDF5 '" << path_ << "': attribute '" << obj << ":" << key << "' is not a string");
    if (H5Tis_variable_str(type) > 0) {  // as h5py writes str attributes
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem, H5T_VARIABLE);
      H5Tset_cset(mem, H5Tget_cset(type));  // HDF5 converts no UTF-8 string to ASCII, and h5py writes UTF-8
      char* s = nullptr;
      IBQ_CHECK(H5Aread(attr, mem, &s) >= 0, "HDF5 '" << path_ << "': cannot read attribute '" << key << "'");
      std::string out = s ? s : "";
      H5free_memory(s);
      return out;
    }
    std::string out(H5Tget_size(type), '\0');
    IBQ_CHECK(H5Aread(attr, type, out.data()) >= 0, "HDF5 '" << path_ << "': cannot read attribute '" << key << "'");
    while (!out.empty() && out.back() == '\0') out.pop_back();
    return out;
  }
  template <class T>
  T attr(const std::string& obj, const std::string& key) const {
    Handle a(open_attr(obj, key), H5Aclose);
    T v{};
    IBQ_CHECK(H5Aread(a, native_type<T>(), &v) >= 0,
              "HDF5 '" << path_ << "': attribute '" << obj << ":" << key << "' is not numeric");
    return v;
  }

  // Names of the datasets under a group, recursively, as paths relative to the group ("a/b/weight").
  std::vector<std::string> datasets(const std::string& group) const {
    std::vector<std::string> out;
    if (!exists(group)) return out;
    Handle g(H5Gopen2(id_, group.c_str(), H5P_DEFAULT), H5Gclose);
#if H5_VERSION_GE(1, 12, 0)
    auto visit = [](hid_t, const char* name, const H5O_info2_t* info, void* data) -> herr_t {
      if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->emplace_back(name);
      return 0;
    };
    H5Ovisit3(g, H5_INDEX_NAME, H5_ITER_INC, visit, &out, H5O_INFO_BASIC);
#else
    auto visit = [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
      if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->emplace_back(name);
      return 0;
    };
    H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_INC, visit, &out, H5O_INFO_BASIC);
#endif
    return out;
  }

 private:
  // Raw ids: callers own them through a Handle.
  // Selects rows [first, first + count) along the first axis of file_space (a dataset of dims d) and
  // returns the matching memory dataspace.
  static hid_t select_rows(hid_t file_space, std::vector<hsize_t> d, hsize_t first, hsize_t count) {
    std::vector<hsize_t> start(d.size(), 0);
    start[0] = first;
    d[0] = count;
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, d.data(), nullptr);
    return H5Screate_simple(int(d.size()), d.data(), nullptr);
  }
  hid_t open_dataset(const std::string& name) const {
    IBQ_CHECK(exists(name), "HDF5 '" << path_ << "': no dataset '" << name << "'");
    const hid_t ds = H5Dopen2(id_, name.c_str(), H5P_DEFAULT);
    IBQ_CHECK(ds >= 0, "HDF5 '" << path_ << "': '" << name << "' is not a dataset");
    return ds;
  }
  hid_t open_attr(const std::string& obj, const std::string& key) const {
    IBQ_CHECK(has_attr(obj, key), "HDF5 '" << path_ << "': no attribute '" << key << "' on '" << obj << "'");
    return H5Aopen_by_name(id_, obj.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  }
  void write_attr(const std::string& obj, const std::string& key, hid_t type, hid_t space, const void* data) {
    if (has_attr(obj, key)) H5Adelete_by_name(id_, obj.c_str(), key.c_str(), H5P_DEFAULT);
    Handle a(H5Acreate_by_name(id_, obj.c_str(), key.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose);
    IBQ_CHECK(a.ok() && H5Awrite(a, type, data) >= 0,
              "HDF5 '" << path_ << "': cannot write attribute '" << key << "' on '" << obj << "'");
  }

  std::string path_;
  hid_t id_ = -1;
};

template <class T, class Space>
void write_tensor(File& f, const std::string& name, const Tensor<T, Space>& t, int compress_level = 0) {
  std::vector<hsize_t> dims(t.shape().dims, t.shape().dims + t.rank());
  f.write(name, t.to_host(), dims, compress_level);
}

template <class T, class Space = DefaultSpace>
Tensor<T, Space> read_tensor(const File& f, const std::string& name) {
  std::vector<hsize_t> dims;
  auto v = f.read<T>(name, &dims);
  IBQ_CHECK(dims.size() <= std::size_t(Shape::max_rank),
            "HDF5 '" << f.path() << "': dataset '" << name << "' has rank " << dims.size() << " > 5");
  return Tensor<T, Space>::from_host(Shape::from_range(dims.begin(), dims.end()), v);
}

// Writes a file so that `path` is never left half-written: the content goes to a temporary file in the
// same folder, which is flushed, closed and renamed over `path` only when `fill` has succeeded.
inline void write_atomic(const std::string& path, const std::function<void(File&)>& fill) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    File f(tmp, File::Mode::create);
    fill(f);
    f.flush();
    f.close();
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  IBQ_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0,
            "cannot move finished file '" << tmp << "' to '" << path << "' (check permissions)");
}

}  // namespace ibq::h5
