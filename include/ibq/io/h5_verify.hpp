// ibq/io/h5_verify.hpp — is an HDF5 file intact? Every dataset read through its checksums, the manifest checked.
//
//   ibq::h5::Verdict v = ibq::h5::verify_file("run/ckpt-00001500.h5");
//   if (!v.intact()) std::cerr << v.problem << "\n";   // names the file, the first bad tensor and HDF5's reason
//
// Opening the file checks the superblock; walking it checks every object header and chunk index (all
// checksummed in the 1.10 format ibq writes); reading every dataset checks each chunk's Fletcher32 sum. The
// root attribute ibq_datasets (hdf5.hpp) lists what a complete file holds, so a lost group is found too.
// Reads go in slabs of at most 64 MiB, so verifying a large checkpoint needs little memory.
#pragma once

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ibq/io/hdf5.hpp"

namespace ibq::h5 {

struct Verdict {
  std::string path;
  std::string problem;               // empty: intact (or, if unchecked is not empty, readable but unverifiable)
  std::vector<std::string> unchecked;  // datasets with data but no checksum (written by another tool or an old ibq)
  bool has_manifest = false;
  long datasets = 0;
  double bytes = 0;  // data bytes read

  bool intact() const { return problem.empty(); }
  // Intact and fully covered by checksums and a manifest: nothing could have changed unnoticed.
  bool verified() const { return intact() && unchecked.empty() && has_manifest; }
};

namespace detail {

inline bool has_fletcher32(hid_t ds) {
  Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  unsigned flags = 0;
  std::size_t nelmts = 0;
  return H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &nelmts, nullptr, 0, nullptr, nullptr) >= 0;
}

// Reads a whole dataset in slabs along its first axis (its file type, no conversion); throws naming it.
// Returns whether it holds data that no checksum covers.
inline bool read_through(const File& f, const std::string& name, double& bytes) {
  const auto d = f.dims(name);
  const hsize_t n = f.element_count(name, d);
  Handle ds(H5Dopen2(f.id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  IBQ_CHECK(ds.ok(), "it cannot be opened" << error_detail());
  f.check_stored_size(name, ds, n);
  if (n == 0) return false;
  Handle type(H5Dget_type(ds), H5Tclose);
  IBQ_CHECK(H5Tis_variable_str(type) <= 0 && H5Tdetect_class(type, H5T_VLEN) <= 0,
            "it holds variable-length data, which no ibq file does");
  const hsize_t item = H5Tget_size(type);
  const hsize_t row = d.empty() ? 1 : n / d[0];
  const hsize_t rows_per_slab = std::max<hsize_t>(1, (hsize_t(64) << 20) / std::max<hsize_t>(1, row * item));
  const hsize_t total_rows = d.empty() ? 1 : d[0];
  std::vector<unsigned char> buf(std::size_t(std::min(total_rows, rows_per_slab) * row * item));
  for (hsize_t first = 0; first < total_rows; first += rows_per_slab) {
    const hsize_t count = std::min(rows_per_slab, total_rows - first);
    herr_t rc;
    std::string why;  // read at once: closing the dataspaces clears HDF5's error stack
    if (d.empty()) {
      rc = H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
      if (rc < 0) why = error_detail();
    } else {
      Handle file_space(H5Dget_space(ds), H5Sclose);
      std::vector<hsize_t> start(d.size(), 0), slab(d);
      start[0] = first, slab[0] = count;
      H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, slab.data(), nullptr);
      Handle mem_space(H5Screate_simple(int(slab.size()), slab.data(), nullptr), H5Sclose);
      rc = H5Dread(ds, type, mem_space, file_space, H5P_DEFAULT, buf.data());
      if (rc < 0) why = error_detail();
    }
    IBQ_CHECK(rc >= 0, "the data is damaged" << why);
    bytes += double(count * row * item);
  }
  return !has_fletcher32(ds);
}

}  // namespace detail

// Checks a whole file; never throws for a damaged file (the verdict says what is wrong), only reports.
inline Verdict verify_file(const std::string& path) {
  Verdict v;
  v.path = path;
  std::string current;
  try {
    File f(path, File::Mode::read);
    std::vector<std::string> names;
    current = "the file's object tree";
    names = f.datasets("/");
    for (const auto& name : names) {
      current = "'" + name + "'";
      if (detail::read_through(f, name, v.bytes)) v.unchecked.push_back(name);
      ++v.datasets;
    }
    current = "its manifest";
    v.has_manifest = f.has_attr("/", File::manifest_attr);
    if (v.has_manifest) {
      const std::string listed = f.attr_string("/", File::manifest_attr);
      std::set<std::string> expected, found(names.begin(), names.end());
      std::istringstream lines(listed);
      for (std::string line; std::getline(lines, line);)
        if (!line.empty()) expected.insert(line);
      for (const auto& name : expected)
        IBQ_CHECK(found.count(name), "tensor '" << name << "' is missing (its group was deleted or lost)");
      for (const auto& name : found)
        IBQ_CHECK(expected.count(name), "'" << name << "' was added after the file was written");
    }
  } catch (const Error& e) {
    std::string what = e.what();
    // File's own messages already name the path; the walk's name the dataset only.
    v.problem = what.find(path) != std::string::npos ? what : "'" + path + "': " + current + ": " + what;
    if (v.problem.find(current) == std::string::npos) v.problem += " [at " + current + "]";
  }
  return v;
}

// One line for a verdict: "OK ...", "UNVERIFIED ..." or "DAMAGED ...".
inline std::string describe(const Verdict& v) {
  std::ostringstream s;
  if (!v.intact()) {
    s << "DAMAGED   " << v.problem;
  } else if (!v.verified()) {
    s << "UNVERIFIED '" << v.path << "': readable, but ";
    if (!v.unchecked.empty())
      s << v.unchecked.size() << " of " << v.datasets << " datasets carry no checksum (first: '" << v.unchecked[0]
        << "')";
    else
      s << "it has no dataset manifest";
    s << "; it was written by another tool or an ibq without checksums (re-save it to protect it)";
  } else {
    s << "OK        '" << v.path << "': " << v.datasets << " datasets, " << v.bytes / 1e6
      << " MB, every checksum and the manifest match";
  }
  return s.str();
}

}  // namespace ibq::h5
