// The sharded sampler: every image once per epoch across the ranks, tails split evenly, weights summing
// to 1, and the single-process schedule as its 1-rank case.
#include <catch2/catch.hpp>

#include <set>

#include "ibq/dist/communicator.hpp"
#include "ibq/dist/sharded_sampler.hpp"

using ibq::index_t;
using ibq::dist::ShardedSampler;

TEST_CASE("every image is seen exactly once per epoch across the ranks, uneven tails included") {
  for (index_t count : {12, 13, 17, 25, 26}) {
    for (int ranks : {1, 2, 3, 4}) {
      for (index_t batch : {1, 2, 3}) {
        if (count < batch * ranks) continue;
        const ShardedSampler sampler(count, ranks, batch);
        INFO("count " << count << ", ranks " << ranks << ", batch " << batch);
        for (long epoch = 0; epoch < 2; ++epoch) {
          std::multiset<index_t> seen;
          for (long s = epoch * sampler.steps_per_epoch(); s < (epoch + 1) * sampler.steps_per_epoch(); ++s) {
            double weights = 0;
            index_t global = 0;
            for (int r = 0; r < ranks; ++r) {
              const auto p = sampler.at(s, r);
              REQUIRE(p.epoch == epoch);
              REQUIRE(p.n >= 1);
              REQUIRE(p.n <= batch);
              weights += p.weight();
              global = p.global_n;
              if (!p.placeholder)
                for (index_t i = p.begin; i < p.begin + p.n; ++i) seen.insert(i);
            }
            REQUIRE(weights == Approx(1.0).epsilon(1e-12));
            REQUIRE(global <= batch * ranks);
          }
          REQUIRE(seen.size() == std::size_t(count));
          REQUIRE(std::set<index_t>(seen.begin(), seen.end()).size() == std::size_t(count));  // no repeats
          REQUIRE(*seen.begin() == 0);
          REQUIRE(*seen.rbegin() == count - 1);
        }
      }
    }
  }
}

TEST_CASE("the tail is split as evenly as possible; empty shares become weight-0 placeholders") {
  const ShardedSampler sampler(/*count=*/26, /*ranks=*/4, /*batch=*/3);  // 2 x 12, then a tail of 2
  REQUIRE(sampler.steps_per_epoch() == 3);
  const auto a = sampler.at(2, 0), b = sampler.at(2, 1), c = sampler.at(2, 2), d = sampler.at(2, 3);
  CHECK((a.begin == 24 && a.n == 1 && !a.placeholder));
  CHECK((b.begin == 25 && b.n == 1 && !b.placeholder));
  CHECK((c.placeholder && c.n == 1 && c.weight() == 0.0));
  CHECK((d.placeholder && d.weight() == 0.0));
  // Full batches: rank r takes the r-th block of B.
  CHECK(sampler.at(4, 2).begin == 12 + 6);
  CHECK(sampler.at(4, 2).epoch == 1);
  REQUIRE_THROWS_WITH(ShardedSampler(10, 4, 3), Catch::Contains("12 images per step, but the set has 10"));
}

TEST_CASE("a default Communicator is one process and never calls MPI") {
  const ibq::dist::Communicator c;
  CHECK(c.size() == 1);
  CHECK(c.root());
  CHECK_FALSE(c.distributed());
  double x[2] = {1.5, 2.5};
  c.allreduce_sum(x, 2);
  CHECK(x[1] == 2.5);
  CHECK(c.sum(3.0) == 3.0);
  CHECK(c.gather_to_root(std::vector<int>{4, 5}) == std::vector<int>{4, 5});
  CHECK(c.all(true));
}
