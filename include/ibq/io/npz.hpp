// ibq/io/npz.hpp — NumPy .npz files of uint8 images (and int64 labels), the format of the ADM evaluation
// suite (`arr_0` images, `arr_1` class labels, as its class-conditional sampler writes them).
//
//   ibq::write_npz("samples.npz", {{"arr_0", pixels, {N, H, W, 3}}});   // uint8 NHWC, atomically
//   auto a = ibq::read_npz_uint8("samples.npz", "arr_0");               // shape and bytes back
//   ibq::write_npz(path, {..., ibq::npz_int64("arr_1", labels)});       // int64 [N]
//   auto labels = ibq::read_npz_int64(path, "arr_1");
//
// An .npz is a zip archive of .npy files, stored without compression (numpy.savez does the same). An .npy
// is a 6-byte magic, a version (1.0), a little-endian header length and a Python dict literal
// {'descr': '|u1', 'fortran_order': False, 'shape': (...), } padded with spaces to a multiple of 64 bytes,
// then the raw C-order data. 50,000 samples of 256x256x3 are 9.8 GB, beyond the 4 GiB of plain zip, so a
// member or archive that large gets ZIP64 records (as Python's zipfile writes and reads them).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ibq/core/config.hpp"
#include "ibq/core/error.hpp"
#include "ibq/io/durable.hpp"

namespace ibq {

struct NpzArray {
  std::string name;                 // the member is name + ".npy"
  std::vector<std::uint8_t> data;   // C order
  std::vector<index_t> shape;
  std::string descr = "|u1";        // numpy dtype string: |u1 (uint8) or <i8 (little-endian int64)
  std::size_t item_size() const { return descr == "<i8" ? 8 : 1; }
};

// An int64 vector as a member (numpy's default integer type, which ADM's labels use).
template <class I>
NpzArray npz_int64(const std::string& name, const std::vector<I>& values) {
  NpzArray a{name, std::vector<std::uint8_t>(values.size() * 8), {index_t(values.size())}, "<i8"};
  for (std::size_t i = 0; i < values.size(); ++i)
    for (int b = 0; b < 8; ++b) a.data[i * 8 + std::size_t(b)] = std::uint8_t((std::uint64_t(std::int64_t(values[i])) >> (8 * b)) & 0xff);
  return a;
}

namespace detail {
inline std::string npy_header(const std::vector<index_t>& shape, const std::string& descr) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  const std::size_t unpadded = 10 + dict.size() + 1;  // magic 6 + version 2 + length 2, dict, '\n'
  dict += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::string h = "\x93NUMPY";
  h += char(1), h += char(0);
  h += char(dict.size() & 0xff), h += char((dict.size() >> 8) & 0xff);
  return h + dict;
}

struct ZipWriter {
  std::ofstream out;
  std::uint64_t offset = 0;
  std::string central;
  std::uint16_t entries = 0;

  template <class U>
  static void put(std::string& s, U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) s += char((std::uint64_t(v) >> (8 * i)) & 0xff);
  }
  void write(const std::string& s) {
    out.write(s.data(), std::streamsize(s.size()));
    offset += s.size();
  }
  void write(const void* p, std::uint64_t n) {
    out.write(static_cast<const char*>(p), std::streamsize(n));
    offset += n;
  }

  // One stored member: [local header][payload parts].
  void add(const std::string& name, const std::vector<std::pair<const void*, std::uint64_t>>& parts) {
    std::uint64_t size = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (const auto& [p, n] : parts) {
      size += n;
      for (std::uint64_t done = 0; done < n;) {  // crc32 takes a uInt length
        const uInt chunk = uInt(std::min<std::uint64_t>(n - done, 1u << 30));
        crc = crc32(crc, static_cast<const Bytef*>(p) + done, chunk);
        done += chunk;
      }
    }
    const bool zip64 = size >= 0xffffffffull || offset >= 0xffffffffull;
    const std::uint64_t local_at = offset;
    std::string h;
    put<std::uint32_t>(h, 0x04034b50);
    put<std::uint16_t>(h, zip64 ? 45 : 20);  // version needed
    put<std::uint16_t>(h, 0);                // flags
    put<std::uint16_t>(h, 0);                // stored
    put<std::uint16_t>(h, 0), put<std::uint16_t>(h, 0x21);  // time, date (1980-01-01)
    put<std::uint32_t>(h, std::uint32_t(crc));
    put<std::uint32_t>(h, zip64 ? 0xffffffffu : std::uint32_t(size));
    put<std::uint32_t>(h, zip64 ? 0xffffffffu : std::uint32_t(size));
    put<std::uint16_t>(h, std::uint16_t(name.size()));
    put<std::uint16_t>(h, zip64 ? 20 : 0);  // extra: ZIP64 sizes
    h += name;
    if (zip64) {
      put<std::uint16_t>(h, 1), put<std::uint16_t>(h, 16);
      put<std::uint64_t>(h, size), put<std::uint64_t>(h, size);
    }
    write(h);
    for (const auto& [p, n] : parts) write(p, n);
    // Its central directory record.
    std::string c;
    put<std::uint32_t>(c, 0x02014b50);
    put<std::uint16_t>(c, zip64 ? 45 : 20), put<std::uint16_t>(c, zip64 ? 45 : 20);
    put<std::uint16_t>(c, 0), put<std::uint16_t>(c, 0), put<std::uint16_t>(c, 0), put<std::uint16_t>(c, 0x21);
    put<std::uint32_t>(c, std::uint32_t(crc));
    put<std::uint32_t>(c, zip64 ? 0xffffffffu : std::uint32_t(size));
    put<std::uint32_t>(c, zip64 ? 0xffffffffu : std::uint32_t(size));
    put<std::uint16_t>(c, std::uint16_t(name.size()));
    put<std::uint16_t>(c, zip64 ? 28 : 0);
    put<std::uint16_t>(c, 0), put<std::uint16_t>(c, 0), put<std::uint16_t>(c, 0);  // comment, disk, internal
    put<std::uint32_t>(c, 0);                                                       // external attributes
    put<std::uint32_t>(c, zip64 ? 0xffffffffu : std::uint32_t(local_at));
    c += name;
    if (zip64) {
      put<std::uint16_t>(c, 1), put<std::uint16_t>(c, 24);
      put<std::uint64_t>(c, size), put<std::uint64_t>(c, size), put<std::uint64_t>(c, local_at);
    }
    central += c;
    ++entries;
  }

  void finish() {
    const std::uint64_t cd_at = offset, cd_size = central.size();
    write(central);
    const bool zip64 = cd_at >= 0xffffffffull;
    std::string e;
    if (zip64) {  // ZIP64 end of central directory record and its locator
      const std::uint64_t z64_at = offset;
      put<std::uint32_t>(e, 0x06064b50);
      put<std::uint64_t>(e, 44);
      put<std::uint16_t>(e, 45), put<std::uint16_t>(e, 45);
      put<std::uint32_t>(e, 0), put<std::uint32_t>(e, 0);
      put<std::uint64_t>(e, entries), put<std::uint64_t>(e, entries);
      put<std::uint64_t>(e, cd_size), put<std::uint64_t>(e, cd_at);
      put<std::uint32_t>(e, 0x07064b50);
      put<std::uint32_t>(e, 0);
      put<std::uint64_t>(e, z64_at);
      put<std::uint32_t>(e, 1);
    }
    put<std::uint32_t>(e, 0x06054b50);
    put<std::uint16_t>(e, 0), put<std::uint16_t>(e, 0);
    put<std::uint16_t>(e, entries), put<std::uint16_t>(e, entries);
    put<std::uint32_t>(e, std::uint32_t(cd_size));
    put<std::uint32_t>(e, zip64 ? 0xffffffffu : std::uint32_t(cd_at));
    put<std::uint16_t>(e, 0);
    write(e);
  }
};
}  // namespace detail

// Writes the arrays as one .npz, durably through a temporary file renamed into place (an interrupted write
// never leaves a truncated archive under the final name).
inline void write_npz(const std::string& path, const std::vector<NpzArray>& arrays) {
  for (const auto& a : arrays) {
    index_t n = 1;
    for (index_t d : a.shape) n *= d;
    IBQ_CHECK(a.descr == "|u1" || a.descr == "<i8", "write_npz: array '" << a.name << "': unsupported dtype " << a.descr);
    IBQ_CHECK(std::size_t(n) * a.item_size() == a.data.size(), "write_npz: array '" << a.name << "' has "
                                                                << a.data.size() << " bytes for a shape of " << n << " elements");
  }
  replace_file_atomically(path, [&](const std::string& tmp) {
    detail::ZipWriter z;
    z.out.open(tmp, std::ios::binary | std::ios::trunc);
    IBQ_CHECK(z.out, "write_npz: cannot create '" << tmp << "': " << write_failure_cause(errno));
    for (const auto& a : arrays) {
      const std::string header = detail::npy_header(a.shape, a.descr);
      z.add(a.name + ".npy", {{header.data(), header.size()}, {a.data.data(), a.data.size()}});
    }
    z.finish();
    z.out.close();
    IBQ_CHECK(z.out, "write_npz: writing '" << path << "' failed: " << write_failure_cause(errno));
  });
}

namespace detail {
template <class U>
U get_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) v |= std::uint64_t(p[i]) << (8 * i);
  return U(v);
}
}  // namespace detail

// Where one member (`name`.npy) of an uncompressed .npz keeps its array: dtype, shape, and the file offset
// and size of the raw little-endian data. Ours, or numpy.savez's (ZIP64 or not).
struct NpzMemberInfo {
  std::string descr;           // numpy dtype string, e.g. |u1, <i8, <f8, <f4
  std::vector<index_t> shape;  // C order
  std::uint64_t data_offset = 0, data_bytes = 0;
  std::uint64_t member_offset = 0, member_bytes = 0;  // the whole .npy, which the zip's CRC-32 covers
  std::uint32_t crc32 = 0;
  // Elements of the shape; a product beyond 2^50 (a damaged header) counts as -1, which no size matches.
  index_t numel() const {
    index_t n = 1;
    for (index_t d : shape) {
      if (d != 0 && n > (index_t(1) << 50) / d) return -1;
      n *= d;
    }
    return n;
  }
};

namespace detail {
// A shape entry of an .npy header: digits only, and small enough that products cannot overflow.
inline index_t npy_dim(const std::string& path, const std::string& text) {
  const auto b = text.find_first_not_of(' '), e = text.find_last_not_of(' ');
  const std::string d = text.substr(b, e - b + 1);
  IBQ_CHECK(!d.empty() && d.size() <= 12 && d.find_first_not_of("0123456789") == std::string::npos,
            "read_npz: '" << path << "' has a damaged .npy header (shape entry '" << d << "')");
  return index_t(std::stoll(d));
}
}  // namespace detail

inline NpzMemberInfo locate_npz(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  IBQ_CHECK(in, "read_npz: cannot open '" << path << "'");
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = std::uint64_t(in.tellg());
  in.seekg(0);
  const std::string want = name + ".npy";
  std::vector<std::uint8_t> h(30);
  while (in.read(reinterpret_cast<char*>(h.data()), 30)) {
    IBQ_CHECK(detail::get_le<std::uint32_t>(h.data()) == 0x04034b50,
              "read_npz: '" << path << "' has no member '" << want << "' (or is not an .npz, or is damaged)");
    const auto method = detail::get_le<std::uint16_t>(h.data() + 8);
    const auto crc = detail::get_le<std::uint32_t>(h.data() + 14);
    std::uint64_t size = detail::get_le<std::uint32_t>(h.data() + 18);
    const auto name_len = detail::get_le<std::uint16_t>(h.data() + 26), extra_len = detail::get_le<std::uint16_t>(h.data() + 28);
    std::string member(name_len, '\0');
    std::vector<std::uint8_t> extra(extra_len);
    in.read(member.data(), name_len);
    in.read(reinterpret_cast<char*>(extra.data()), extra_len);
    for (std::size_t at = 0; at + 4 <= extra.size();) {  // the ZIP64 field holds the real sizes
      const auto id = detail::get_le<std::uint16_t>(extra.data() + at), len = detail::get_le<std::uint16_t>(extra.data() + at + 2);
      if (id == 1 && size == 0xffffffffull && len >= 16 && at + 20 <= extra.size())
        size = detail::get_le<std::uint64_t>(extra.data() + at + 12);
      at += 4 + len;
    }
    IBQ_CHECK(in, "read_npz: '" << path << "' ends inside a member header (a truncated file?)");
    IBQ_CHECK(detail::get_le<std::uint16_t>(h.data() + 6) % 16 < 8, "read_npz: '" << path << "' uses data descriptors");
    const std::uint64_t member_start = std::uint64_t(in.tellg());
    IBQ_CHECK(size <= file_size - std::min(file_size, member_start),
              "read_npz: member '" << member << "' of '" << path << "' claims " << size << " bytes, more than the file "
                                   << "holds (a truncated or damaged file?)");
    if (member != want) {
      in.seekg(std::streamoff(size), std::ios::cur);
      continue;
    }
    IBQ_CHECK(method == 0, "read_npz: '" << want << "' in '" << path << "' is compressed (numpy.savez_compressed); "
                                         << "re-save it with numpy.savez");
    std::vector<std::uint8_t> pre(12);
    in.read(reinterpret_cast<char*>(pre.data()), 12);
    IBQ_CHECK(in && size >= 12 && std::memcmp(pre.data(), "\x93NUMPY", 6) == 0,
              "read_npz: '" << want << "' in '" << path << "' is not an .npy array");
    const std::size_t hlen = pre[6] == 1 ? detail::get_le<std::uint16_t>(pre.data() + 8) : detail::get_le<std::uint32_t>(pre.data() + 8);
    const std::size_t dict_at = pre[6] == 1 ? 10 : 12;
    IBQ_CHECK(dict_at + hlen <= size, "read_npz: '" << want << "' in '" << path << "' has a damaged .npy header");
    std::string dict(hlen, '\0');
    in.seekg(std::streamoff(member_start + dict_at));
    in.read(dict.data(), std::streamsize(hlen));
    IBQ_CHECK(in && dict.find("'fortran_order': False") != std::string::npos,
              "read_npz: '" << want << "' in '" << path << "' is not a C-order array: " << dict.substr(0, 200));
    NpzMemberInfo info;
    const auto descr_key = dict.find("'descr'"), shape_key = dict.find("'shape'");
    IBQ_CHECK(descr_key != std::string::npos && shape_key != std::string::npos,
              "read_npz: '" << want << "' in '" << path << "' has a damaged .npy header");
    const auto d0 = dict.find('\'', descr_key + 7), d1 = d0 == std::string::npos ? d0 : dict.find('\'', d0 + 1);
    const auto open = dict.find('(', shape_key), close = open == std::string::npos ? open : dict.find(')', open);
    IBQ_CHECK(d1 != std::string::npos && close != std::string::npos,
              "read_npz: '" << want << "' in '" << path << "' has a damaged .npy header");
    info.descr = dict.substr(d0 + 1, d1 - d0 - 1);
    std::string dims = dict.substr(open + 1, close - open - 1);
    for (std::size_t p = 0; p < dims.size();) {
      const auto q = dims.find(',', p);
      const std::string d = dims.substr(p, q == std::string::npos ? std::string::npos : q - p);
      if (d.find_first_not_of(' ') != std::string::npos) info.shape.push_back(detail::npy_dim(path, d));
      if (q == std::string::npos) break;
      p = q + 1;
    }
    IBQ_CHECK(info.shape.size() <= 8, "read_npz: '" << want << "' in '" << path << "' has a damaged .npy header");
    info.data_offset = member_start + dict_at + hlen;
    info.data_bytes = size - dict_at - hlen;
    info.crc32 = crc;
    info.member_offset = member_start;
    info.member_bytes = size;
    return info;
  }
  IBQ_THROW("read_npz: '" << path << "' has no member '" << want << "'");
}

namespace detail {
inline std::size_t npz_item_size(const std::string& descr) {
  const auto digits = descr.find_first_of("0123456789");
  return digits == std::string::npos ? 0 : std::size_t(std::stoul(descr.substr(digits)));
}
inline void check_npz_descr(const std::string& path, const std::string& name, const NpzMemberInfo& m,
                            const std::string& descr) {
  IBQ_CHECK(m.descr == descr, "read_npz: '" << name << ".npy' in '" << path << "' has dtype " << m.descr << ", expected "
                                            << descr);
  IBQ_CHECK(m.numel() >= 0 && m.data_bytes == std::uint64_t(m.numel()) * npz_item_size(descr),
            "read_npz: '" << name << ".npy' in '" << path << "' holds " << m.data_bytes << " bytes for " << m.numel()
                          << " elements");
}
}  // namespace detail

namespace detail {
// A member's data, read whole and checked against the zip's CRC-32 of the member: a flipped bit is an
// error, not a changed sample.
inline std::vector<std::uint8_t> read_npz_data(const std::string& path, const std::string& name, const NpzMemberInfo& m) {
  std::vector<std::uint8_t> member(std::size_t(m.member_bytes));
  std::ifstream in(path, std::ios::binary);
  in.seekg(std::streamoff(m.member_offset));
  in.read(reinterpret_cast<char*>(member.data()), std::streamsize(member.size()));
  IBQ_CHECK(in, "read_npz: '" << path << "' ends inside '" << name << ".npy' (a truncated file?)");
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::size_t done = 0; done < member.size();) {  // crc32 takes a uInt length
    const uInt chunk = uInt(std::min<std::size_t>(member.size() - done, 1u << 30));
    crc = crc32(crc, member.data() + done, chunk);
    done += chunk;
  }
  IBQ_CHECK(std::uint32_t(crc) == m.crc32, "read_npz: '" << name << ".npy' in '" << path << "' fails its CRC-32 check: "
                                                         << "the file is damaged; re-create or re-download it");
  return {member.begin() + std::ptrdiff_t(m.data_offset - m.member_offset), member.end()};
}
}  // namespace detail

// Reads one member of dtype `descr` (|u1 or <i8) whole.
inline NpzArray read_npz(const std::string& path, const std::string& name, const std::string& descr) {
  const NpzMemberInfo m = locate_npz(path, name);
  detail::check_npz_descr(path, name, m, descr);
  NpzArray a;
  a.name = name, a.descr = descr, a.shape = m.shape;
  a.data = detail::read_npz_data(path, name, m);
  return a;
}

// A float64 or float32 member (ADM's reference statistics mu, sigma) as doubles; its shape in *shape.
inline std::vector<double> read_npz_float64(const std::string& path, const std::string& name,
                                            std::vector<index_t>* shape = nullptr) {
  const NpzMemberInfo m = locate_npz(path, name);
  IBQ_CHECK(m.descr == "<f8" || m.descr == "<f4", "read_npz: '" << name << ".npy' in '" << path << "' has dtype "
                                                               << m.descr << ", expected float64 or float32");
  detail::check_npz_descr(path, name, m, m.descr);
  const std::vector<std::uint8_t> raw = detail::read_npz_data(path, name, m);
  std::vector<double> v(std::size_t(m.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (m.descr == "<f8") {
      const auto bits = detail::get_le<std::uint64_t>(raw.data() + 8 * i);
      std::memcpy(&v[i], &bits, 8);
    } else {
      const auto bits = detail::get_le<std::uint32_t>(raw.data() + 4 * i);
      float f;
      std::memcpy(&f, &bits, 4);
      v[i] = f;
    }
  }
  if (shape) *shape = m.shape;
  return v;
}

// Rows [first, first + n) of a uint8 member [N, ...] (images, NHWC), read from the file without loading the
// rest: 50,000 samples at 256x256 are 9.8 GB, and each rank reads only its share.
class NpzRows {
 public:
  NpzRows(const std::string& path, const std::string& name) : path_(path), name_(name), info_(locate_npz(path, name)) {
    detail::check_npz_descr(path, name, info_, "|u1");
    IBQ_CHECK(!info_.shape.empty(), "read_npz: '" << name << ".npy' in '" << path << "' is a scalar, not rows");
    row_bytes_ = info_.numel() / std::max<index_t>(info_.shape[0], 1);
    in_.open(path, std::ios::binary);
  }
  const std::vector<index_t>& shape() const { return info_.shape; }
  index_t rows() const { return info_.shape[0]; }
  std::vector<std::uint8_t> read(index_t first, index_t n) {
    IBQ_CHECK(first >= 0 && n >= 0 && first + n <= rows(), "read_npz: rows [" << first << ", " << first + n
                                                                             << ") outside '" << name_ << "' of "
                                                                             << rows() << " rows");
    std::vector<std::uint8_t> out(std::size_t(n * row_bytes_));
    in_.seekg(std::streamoff(info_.data_offset + std::uint64_t(first * row_bytes_)));
    in_.read(reinterpret_cast<char*>(out.data()), std::streamsize(out.size()));
    IBQ_CHECK(in_, "read_npz: '" << path_ << "' ends inside '" << name_ << ".npy' (a truncated file?)");
    return out;
  }

 private:
  std::string path_, name_;
  NpzMemberInfo info_;
  index_t row_bytes_ = 0;
  std::ifstream in_;
};

inline NpzArray read_npz_uint8(const std::string& path, const std::string& name) { return read_npz(path, name, "|u1"); }

inline std::vector<std::int64_t> read_npz_int64(const std::string& path, const std::string& name) {
  const NpzArray a = read_npz(path, name, "<i8");
  IBQ_CHECK(a.shape.size() == 1, "read_npz: '" << name << "' in '" << path << "' is not a vector");
  std::vector<std::int64_t> v(a.data.size() / 8);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = detail::get_le<std::int64_t>(a.data.data() + 8 * i);
  return v;
}

}  // namespace ibq
