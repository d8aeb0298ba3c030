// ibq/io/jpeg.hpp — JPEG decoding and encoding through libjpeg(-turbo), with errors as ibq::Error.
//
//   auto bytes = ibq::read_file_bytes(path);
//   ibq::DecodedImage img = ibq::decode_jpeg(bytes.data(), bytes.size(), path);   // grey or RGB, 8-bit
//   ibq::write_jpeg("grid.jpg", img.pixels.data(), img.height, img.width, img.channels, /*quality=*/95);
//
// Most callers want ibq::read_image (ibq/io/png.hpp), which picks the decoder from the file's first bytes.
// libjpeg reports fatal errors by calling exit() unless the error manager jumps out; the jumps land in small
// functions whose locals are all trivially destructible, so no C++ destructor is ever skipped.
#pragma once

#include <csetjmp>
#include <cstdio>
// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>

#include <string>

#include "ibq/io/image_file.hpp"

namespace ibq {

namespace detail {

struct JpegErrors {
  jpeg_error_mgr mgr;  // first member: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

inline void jpeg_fail(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}
// libjpeg pads a truncated file with grey and only warns; PIL refuses such files ("image file is truncated"),
// and so do we. Other warnings (extraneous bytes before a marker: a few thousand ImageNet files) decode fine.
inline void jpeg_warn(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}
inline void jpeg_quiet(j_common_ptr) {}

inline void jpeg_install_errors(jpeg_error_mgr* mgr, JpegErrors* e) {
  jpeg_std_error(mgr);
  e->message[0] = '\0';
  mgr->error_exit = jpeg_fail;
  mgr->emit_message = jpeg_warn;
  mgr->output_message = jpeg_quiet;
}

inline bool jpeg_start_reading(jpeg_decompress_struct* cinfo, JpegErrors* e, const std::uint8_t* data,
                               std::size_t size) {
  if (setjmp(e->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK; break;  // libjpeg has no CMYK -> RGB; done below
    default: cinfo->out_color_space = JCS_RGB;
  }
  jpeg_start_decompress(cinfo);
  return true;
}
inline bool jpeg_read_rows(jpeg_decompress_struct* cinfo, JpegErrors* e, std::uint8_t* out, std::size_t row_bytes) {
  if (setjmp(e->jump)) return false;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out + std::size_t(cinfo->output_scanline) * row_bytes;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

// As PIL's CMYK -> RGB, R = (255 - C)(255 - K) / 255, with the inks stored inverted: Photoshop writes them
// so, and PIL has assumed it for every CMYK JPEG since 2009 (non-Adobe CMYK files are practically unseen).
inline void cmyk_to_rgb(const std::vector<std::uint8_t>& inverted_cmyk, std::vector<std::uint8_t>& rgb) {
  const std::size_t n = inverted_cmyk.size() / 4;
  rgb.resize(n * 3);
  for (std::size_t p = 0; p < n; ++p) {
    const int k = inverted_cmyk[4 * p + 3];
    for (std::size_t c = 0; c < 3; ++c) rgb[3 * p + c] = std::uint8_t((inverted_cmyk[4 * p + c] * k + 127) / 255);
  }
}

inline bool jpeg_write_all(jpeg_compress_struct* cinfo, JpegErrors* e, std::FILE* file, const std::uint8_t* pixels,
                           int height, int width, int channels, int quality) {
  if (setjmp(e->jump)) return false;
  jpeg_create_compress(cinfo);
  jpeg_stdio_dest(cinfo, file);
  cinfo->image_width = JDIMENSION(width);
  cinfo->image_height = JDIMENSION(height);
  cinfo->input_components = channels;
  cinfo->in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  const std::size_t row_bytes = std::size_t(width) * std::size_t(channels);
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<std::uint8_t*>(pixels) + std::size_t(cinfo->next_scanline) * row_bytes;
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

}  // namespace detail

inline bool is_jpeg(const std::uint8_t* data, std::size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;  // SOI, then any marker
}

// Decodes a JPEG held in memory to 8-bit grey (1 channel) or RGB (3; also for CMYK files). `name` is only
// used in error messages.
inline DecodedImage decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name) {
  jpeg_decompress_struct cinfo{};  // zeroed: jpeg_destroy is safe even if creation failed
  detail::JpegErrors errors;
  cinfo.err = &errors.mgr;
  detail::jpeg_install_errors(&errors.mgr, &errors);
  struct Cleanup {
    jpeg_decompress_struct* c;
    ~Cleanup() { jpeg_destroy_decompress(c); }
  } cleanup{&cinfo};

  const auto failure = [&] {  // libjpeg's own text, e.g. "Bogus marker length" or "Premature end of JPEG file"
    const bool truncated = errors.mgr.msg_code == JWRN_JPEG_EOF;
    IBQ_THROW("'" << name << "': " << (truncated ? "truncated" : "corrupt") << " JPEG (" << errors.message << ")");
  };
  if (!detail::jpeg_start_reading(&cinfo, &errors, data, size)) failure();
  DecodedImage img;
  img.height = int(cinfo.output_height);
  img.width = int(cinfo.output_width);
  check_image_size(name, img.height, img.width);
  const int decoded_channels = cinfo.output_components;
  IBQ_CHECK(decoded_channels == 1 || decoded_channels == 3 || decoded_channels == 4,
            "'" << name << "': JPEG with " << decoded_channels << " colour components is not supported");
  std::vector<std::uint8_t> raw(std::size_t(img.height) * std::size_t(img.width) * std::size_t(decoded_channels));
  if (!detail::jpeg_read_rows(&cinfo, &errors, raw.data(), std::size_t(img.width) * std::size_t(decoded_channels)))
    failure();
  if (decoded_channels == 4) {
    img.channels = 3;
    detail::cmyk_to_rgb(raw, img.pixels);
  } else {
    img.channels = decoded_channels;
    img.pixels = std::move(raw);
  }
  return img;
}

// Writes 8-bit grey (channels 1) or RGB (3) pixels [height, width, channels] as a baseline JPEG, through a
// temporary file renamed over `path` when complete.
inline void write_jpeg(const std::string& path, const std::uint8_t* pixels, int height, int width, int channels,
                       int quality = 95) {
  IBQ_CHECK(channels == 1 || channels == 3,
            "write_jpeg '" << path << "': channels must be 1 (grey) or 3 (RGB), got " << channels);
  IBQ_CHECK(height > 0 && width > 0 && height <= JPEG_MAX_DIMENSION && width <= JPEG_MAX_DIMENSION,
            "write_jpeg '" << path << "': size " << height << "x" << width << " is outside JPEG's 1..65500");
  IBQ_CHECK(quality >= 1 && quality <= 100, "write_jpeg '" << path << "': quality must be in 1..100, got " << quality);
  replace_file_atomically(path, [&](const std::string& tmp) {
    std::FILE* file = std::fopen(tmp.c_str(), "wb");
    IBQ_CHECK(file, "write_jpeg: cannot create '" << tmp << "' (does the folder exist and is it writable?)");
    jpeg_compress_struct cinfo{};
    detail::JpegErrors errors;
    cinfo.err = &errors.mgr;
    detail::jpeg_install_errors(&errors.mgr, &errors);
    const bool ok = detail::jpeg_write_all(&cinfo, &errors, file, pixels, height, width, channels, quality);
    jpeg_destroy_compress(&cinfo);
    const bool closed = std::fclose(file) == 0;
    IBQ_CHECK(ok, "write_jpeg '" << path << "': " << errors.message);
    IBQ_CHECK(closed, "write_jpeg '" << path << "': writing failed (disk full?)");
  });
}

}  // namespace ibq
