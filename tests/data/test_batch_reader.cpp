// The background batch reader: a batch read ahead equals the batch read now, on another thread; a miss
// reads now; a read-ahead error surfaces when that batch is taken, with the source's message.
#include <thread>

#include "test_util.hpp"
#include "ibq/data/batch_reader.hpp"

using namespace ibq;

namespace {

// 20 one-pixel images (value 10 * row + epoch); row 13 is "damaged". Records the thread of the last read.
struct Probe : ImageSource {
  mutable std::thread::id reader;
  Probe() { count = 20, channels = 1, height = width = 1; }
  void gather(const index_t* rows, index_t n, std::uint8_t* px, std::int32_t* labels, std::uint64_t epoch = 0) const override {
    reader = std::this_thread::get_id();
    for (index_t b = 0; b < n; ++b) {
      IBQ_CHECK(rows[b] != 13, "image 13 of the probe is damaged");
      if (px) px[b] = std::uint8_t(10 * rows[b] + index_t(epoch));
      if (labels) labels[b] = 0;
    }
  }
};

}  // namespace

TEST_CASE("batch_reader: a batch read ahead on a thread equals the one read now; a miss reads now", "[data]") {
  Probe probe;
  probe.mean = 0, probe.std = 1.0 / 255;  // (pixel / 255 - 0) / (1 / 255): the pixel value itself
  BatchReader<double> reader(probe);
  const std::vector<index_t> a{3, 1, 4}, b{5, 9, 2};
  CHECK(reader.take(a.data(), 3, 0) == std::vector<double>{30, 10, 40});  // nothing read ahead: read now
  CHECK(probe.reader == std::this_thread::get_id());
  reader.start(b.data(), 3, 7);
  reader.finish();
  CHECK(probe.reader != std::this_thread::get_id());  // the read ran on the reader's thread
  CHECK(reader.take(b.data(), 3, 7) == std::vector<double>{57, 97, 27});
  CHECK(reader.hits() == 1);
  reader.start(b.data(), 3, 7);
  CHECK(reader.take(b.data(), 3, 8) == std::vector<double>{58, 98, 28});  // another epoch: a miss, read now
  CHECK(reader.take(a.data(), 2, 0) == std::vector<double>{30, 10});
  CHECK(reader.hits() == 1);
  CHECK(reader.take_waited_s() >= 0);
  CHECK(reader.take_waited_s() == 0);  // reset by the call before

  BatchReader<double> inline_reader(probe, /*background=*/false);
  inline_reader.start(b.data(), 3, 7);
  CHECK(inline_reader.take(b.data(), 3, 7) == std::vector<double>{57, 97, 27});
  CHECK(inline_reader.hits() == 0);
  CHECK(probe.reader == std::this_thread::get_id());
}

TEST_CASE("batch_reader: an error in a read ahead is raised when that batch is taken", "[data]") {
  Probe probe;
  BatchReader<float> reader(probe);
  const std::vector<index_t> bad{12, 13}, good{0, 1};
  reader.start(bad.data(), 2, 0);
  reader.finish();  // the step that read ahead ends normally
  CHECK_THROWS_WITH(reader.take(bad.data(), 2, 0), Catch::Contains("image 13 of the probe is damaged"));
  CHECK(reader.take(good.data(), 2, 0).size() == 2);  // the reader stays usable
  reader.start(bad.data(), 2, 0);                     // a read ahead that is never taken raises nothing
}
