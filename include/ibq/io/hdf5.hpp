// ibq/io/hdf5.hpp — a thin RAII layer over the HDF5 C API: datasets, attributes, atomic writes.
//
//   ibq::h5::write_atomic("model.h5", [&](ibq::h5::File& f) {
//     f.set_attr("/", "format", std::string("ibq"));
//     ibq::h5::write_tensor(f, "params/fc.weight", w);        // intermediate groups are created
//   });                                                         // written to a temp file, then renamed
//   ibq::h5::File f("model.h5", ibq::h5::File::Mode::read);
//   auto w2 = ibq::h5::read_tensor<float>(f, "params/fc.weight");
//
// Every failure throws ibq::Error naming the file and the object, and HDF5's innermost reason (a failed
// checksum, a truncated file, a full disk); HDF5's own error stack printing is switched off so a driver prints
// one line, not a page.
//
// Integrity: every dataset ibq writes is chunked with HDF5's Fletcher32 checksum filter, and files use the
// HDF5 1.10 format, whose metadata (superblock, object headers, chunk indexes) carries checksums too. HDF5
// checks both on every read, so a flipped bit fails the read that meets it instead of becoming a weight.
// h5py and HDF5 >= 1.10 read these files without any plugin; nothing in them is ever executed on load.
#pragma once

#include <algorithm>
#include <hdf5.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/core/tensor.hpp"
#include "ibq/io/durable.hpp"

// A failed write marks the file: HDF5 1.10 must not be asked to close (or flush at exit) a file whose
// write or flush failed -- it crashes in H5F__close_cb. The handle is abandoned; the temporary file it
// named is removed by the caller.
#define IBQ_H5_WRITE_CHECK(cond, msg) \
  do {                                \
    if (!(cond)) {                    \
      failed_ = true;                 \
      IBQ_THROW(msg);                 \
    }                                 \
  } while (0)

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

// HDF5's most specific reason for the error that just happened ("data error detected by Fletcher32
// checksum", "truncated file: eof = ...", "file write failed: ... errno = 28 ..."), as " (reason)", or "".
// Call it right after the failing call: the next HDF5 call clears the error stack.
inline std::string error_detail() {
  std::string detail;
  auto walk = [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
    auto* out = static_cast<std::string*>(data);
    if (n == 0 && e->desc && *e->desc) *out = e->desc;  // upward walk: entry 0 is where it was detected
    return 0;
  };
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk, &detail);
  // A failed system call: HDF5's line is long ("file write failed: time = ..., errno = 28, ..."), say why.
  if (const auto at = detail.find("errno = "); at != std::string::npos)
    return ": " + write_failure_cause(std::atoi(detail.c_str() + at + 8));
  if (detail.size() > 200) detail = detail.substr(0, 200) + "...";
  return detail.empty() ? "" : " (HDF5: " + detail + ")";
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

  File(const std::string& path, Mode mode) : path_(path), created_(mode == Mode::create) {
    // HDF5's exit handler would close an abandoned file (see IBQ_H5_WRITE_CHECK) and crash; every File
    // closes itself, so the handler has nothing else to do. Effective only before HDF5's first call.
    static const bool no_exit_handler = (H5dont_atexit(), true);
    (void)no_exit_handler;
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, once
    if (mode == Mode::create) {
      // The 1.10 format: checksummed metadata, and a file any HDF5 >= 1.10 (and h5py) reads.
      Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
      H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
      id_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
      IBQ_CHECK(id_ >= 0, "cannot create HDF5 file '" << path << "': check that the folder exists and is writable"
                                                       << error_detail());
    } else {
      IBQ_CHECK(access(path.c_str(), R_OK) == 0, "cannot read '" << path << "': no such file or no permission");
      IBQ_CHECK(H5Fis_hdf5(path.c_str()) > 0,
                "'" << path << "' is not an HDF5 file (truncated or corrupt?); re-create it");
      id_ = H5Fopen(path.c_str(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
      IBQ_CHECK(id_ >= 0, "cannot open HDF5 file '" << path << "': it is damaged (truncated or overwritten) or "
                                                     << "locked by another process" << error_detail());
    }
  }
  ~File() { close(); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Closes without checking (the file is being dropped, or was only read); a file whose write failed is
  // abandoned instead (see IBQ_H5_WRITE_CHECK).
  void close() {
    if (id_ >= 0 && !failed_) H5Fclose(id_);
    id_ = -1;
  }
  // Writes everything HDF5 still caches and closes, throwing if that fails: metadata is written at the
  // end, so a full disk often shows only here.
  void finish() {
    if (id_ < 0) return;
    if (created_) set_attr("/", manifest_attr, manifest_text(written_));
    IBQ_H5_WRITE_CHECK(H5Fflush(id_, H5F_SCOPE_GLOBAL) >= 0, "writing HDF5 file '" << path_ << "' failed"
                                                                                  << error_detail());
    const bool closed = H5Fclose(id_) >= 0;
    id_ = -1;
    IBQ_CHECK(closed, "writing HDF5 file '" << path_ << "' failed" << error_detail());
  }
  void flush() {
    IBQ_H5_WRITE_CHECK(H5Fflush(id_, H5F_SCOPE_GLOBAL) >= 0,
                       "writing HDF5 file '" << path_ << "' failed" << error_detail());
  }
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
      const htri_t found = H5Lexists(id_, partial.c_str(), H5P_DEFAULT);
      // An error is not an absence: a damaged group must not read as "no such tensor, use the default".
      IBQ_CHECK(found >= 0, "HDF5 '" << path_ << "': cannot look up '" << partial << "': the file is damaged"
                                     << error_detail());
      if (found == 0) return false;
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
    if (n > 0 && !dims.empty()) {  // a checksum needs chunks; a scalar or empty dataset holds no data to check
      std::vector<hsize_t> chunk(dims);
      // Compressed: one leading slice per chunk, as readers fetch rows (images, token grids). Otherwise
      // whole tensors, split along the first axis only to stay under HDF5's 4 GiB chunk limit.
      const hsize_t row_bytes = n / dims[0] * sizeof(T);
      chunk[0] = compress_level > 0 ? 1 : std::max<hsize_t>(1, std::min<hsize_t>(dims[0], (hsize_t(1) << 30) / row_bytes));
      H5Pset_chunk(dcpl, int(chunk.size()), chunk.data());
      if (compress_level > 0) H5Pset_deflate(dcpl, unsigned(compress_level));
      H5Pset_fletcher32(dcpl);
    }
    IBQ_CHECK(!exists(name), "HDF5 '" << path_ << "': dataset '" << name << "' already exists");
    Handle ds(H5Dcreate2(id_, name.c_str(), native_type<T>(), space, lcpl, dcpl, H5P_DEFAULT), H5Dclose);
    IBQ_H5_WRITE_CHECK(ds.ok(), "HDF5 '" << path_ << "': cannot create dataset '" << name << "'" << error_detail());
    written_.push_back(name);
    if (n > 0)
      IBQ_H5_WRITE_CHECK(H5Dwrite(ds, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0,
                "HDF5 '" << path_ << "': writing '" << name << "' failed" << error_detail());
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
    H5Pset_fletcher32(dcpl);
    IBQ_CHECK(!exists(name), "HDF5 '" << path_ << "': dataset '" << name << "' already exists");
    Handle ds(H5Dcreate2(id_, name.c_str(), native_type<T>(), space, lcpl, dcpl, H5P_DEFAULT), H5Dclose);
    IBQ_H5_WRITE_CHECK(ds.ok(), "HDF5 '" << path_ << "': cannot create dataset '" << name << "'" << error_detail());
    written_.push_back(name);
  }
  // Appends count rows (count x the row size values) to a dataset made by create_rows.
  template <class T>
  void append_rows(const std::string& name, const T* data, hsize_t count) {
    if (count == 0) return;
    auto d = dims(name);
    const hsize_t first = d[0];
    d[0] += count;
    Handle ds(open_dataset(name), H5Dclose);
    IBQ_H5_WRITE_CHECK(H5Dset_extent(ds, d.data()) >= 0,
              "HDF5 '" << path_ << "': '" << name << "' cannot grow (it was not written as an extendible dataset)");
    Handle file_space(H5Dget_space(ds), H5Sclose);
    Handle mem_space(select_rows(file_space, d, first, count), H5Sclose);
    IBQ_H5_WRITE_CHECK(H5Dwrite(ds, native_type<T>(), mem_space, file_space, H5P_DEFAULT, data) >= 0,
              "HDF5 '" << path_ << "': appending to '" << name << "' failed" << error_detail());
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
    const hsize_t n = element_count(name, d);
    Handle ds(open_dataset(name), H5Dclose);
    check_stored_size(name, ds, n);
    std::vector<T> out(n);
    if (n > 0)
      IBQ_CHECK(H5Dread(ds, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0,
                "HDF5 '" << path_ << "': reading '" << name << "' failed: the file is damaged or the data is not numeric"
                    << error_detail());
    if (dims_out) *dims_out = d;
    return out;
  }

  // Reads rows [first, first + count) of a dataset along its first axis (a hyperslab): batches of a large
  // image shard without loading the whole file.
  template <class T>
  std::vector<T> read_rows(const std::string& name, hsize_t first, hsize_t count) const {
    const auto d = dims(name);
    IBQ_CHECK(!d.empty() && first <= d[0] && count <= d[0] - first, "HDF5 '" << path_ << "': rows [" << first << ", " << first + count
                                                            << ") of '" << name << "' are out of range");
    const hsize_t row = element_count(name, d) / std::max<hsize_t>(1, d[0]);
    Handle ds(open_dataset(name), H5Dclose);
    check_stored_size(name, ds, d[0] * row);
    std::vector<T> out(count * row);
    if (count == 0) return out;
    Handle file_space(H5Dget_space(ds), H5Sclose);
    Handle mem_space(select_rows(file_space, d, first, count), H5Sclose);
    IBQ_CHECK(H5Dread(ds, native_type<T>(), mem_space, file_space, H5P_DEFAULT, out.data()) >= 0,
              "HDF5 '" << path_ << "': reading rows of '" << name << "' failed: the file is damaged" << error_detail());
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
    const htri_t found = H5Aexists_by_name(id_, obj.c_str(), key.c_str(), H5P_DEFAULT);
    IBQ_CHECK(found >= 0, "HDF5 '" << path_ << "': cannot look up attribute '" << key << "' on '" << obj
                                   << "': the file is damaged or '" << obj << "' does not exist" << error_detail());
    return found > 0;
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
    IBQ_CHECK(g.ok(), "HDF5 '" << path_ << "': group '" << group << "' cannot be opened: the file is damaged"
                               << error_detail());
#if H5_VERSION_GE(1, 12, 0)
    auto visit = [](hid_t, const char* name, const H5O_info2_t* info, void* data) -> herr_t {
      if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->emplace_back(name);
      return 0;
    };
    const herr_t rc = H5Ovisit3(g, H5_INDEX_NAME, H5_ITER_INC, visit, &out, H5O_INFO_BASIC);
#else
    auto visit = [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
      if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->emplace_back(name);
      return 0;
    };
    const herr_t rc = H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_INC, visit, &out, H5O_INFO_BASIC);
#endif
    IBQ_CHECK(rc >= 0, "HDF5 '" << path_ << "': the objects under '" << group << "' cannot be listed: the file is "
                                << "damaged" << error_detail());
    return out;
  }

  // The number of elements of dims d, refusing counts no file of ours can hold (and overflow).
  hsize_t element_count(const std::string& name, const std::vector<hsize_t>& d) const {
    hsize_t n = 1;
    for (hsize_t v : d) {
      IBQ_CHECK(v == 0 || n <= (hsize_t(1) << 50) / v,
                "HDF5 '" << path_ << "': '" << name << "' claims more than 2^50 elements: the file is damaged");
      n *= v;
    }
    return n;
  }

  // Refuses, before anything is allocated, a dataset whose declared size its stored bytes cannot hold: a
  // damaged or hostile header claiming 2^40 elements. Uncompressed data must be all there; deflate
  // shrinks at most ~1032:1, so compressed data may claim at most 1100x its stored bytes.
  void check_stored_size(const std::string& name, hid_t ds, hsize_t n) const {
    if (n == 0) return;
    Handle type(H5Dget_type(ds), H5Tclose);
    const hsize_t item = std::max<hsize_t>(1, H5Tget_size(type));
    IBQ_CHECK(n <= (hsize_t(1) << 50) / item, "HDF5 '" << path_ << "': '" << name << "' claims " << n
                                                          << " elements: the file is damaged or not what it claims");
    const hsize_t declared = n * item, stored = H5Dget_storage_size(ds);
    Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
    unsigned flags = 0;
    std::size_t nelmts = 0;
    const bool deflated =
        H5Pget_filter_by_id2(dcpl, H5Z_FILTER_DEFLATE, &flags, &nelmts, nullptr, 0, nullptr, nullptr) >= 0;
    const bool plausible = deflated ? declared / 1100 <= stored : stored >= declared;
    IBQ_CHECK(plausible, "HDF5 '" << path_ << "': '" << name << "' claims " << n << " elements (" << declared
                                  << " bytes) but the file stores " << stored
                                  << " bytes for it: the file is damaged (truncated or overwritten)");
  }

  // The names of every dataset a created file holds, written as its root attribute ibq_datasets when it is
  // finished: a verifier tells a complete file from one that lost a group (ibq/io/h5_verify.hpp).
  static constexpr const char* manifest_attr = "ibq_datasets";
  static std::string manifest_text(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    std::string text;
    for (const auto& n : names) text += (text.empty() ? "" : "\n") + n;
    return text;
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
    IBQ_H5_WRITE_CHECK(a.ok() && H5Awrite(a, type, data) >= 0,
              "HDF5 '" << path_ << "': cannot write attribute '" << key << "' on '" << obj << "'");
  }

  std::string path_;
  hid_t id_ = -1;
  bool created_ = false;
  bool failed_ = false;  // a write or flush failed: the handle is abandoned, never closed
  std::vector<std::string> written_;  // datasets created through this handle, for the manifest
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
// same folder, which is flushed, closed, synced and renamed over `path` only when `fill` has succeeded
// (ibq/io/durable.hpp).
inline void write_atomic(const std::string& path, const std::function<void(File&)>& fill) {
  replace_file_atomically(path, [&](const std::string& tmp) {
    File f(tmp, File::Mode::create);
    fill(f);
    f.finish();
  });
}

}  // namespace ibq::h5

#undef IBQ_H5_WRITE_CHECK
