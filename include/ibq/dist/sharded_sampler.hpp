// ibq/dist/sharded_sampler.hpp — which images each rank trains on at each step.
//
//   ibq::dist::ShardedSampler sampler(/*count=*/60000, /*ranks=*/4, /*per_rank_batch=*/16);
//   auto part = sampler.at(step, rank);     // epoch, [begin, begin + n) of that epoch's permutation
//   auto order = train.epoch_order(seed, part.epoch);
//   auto x = train.batch<float>(order, part.begin, part.n);   // weight its gradient by part.weight()
//
// An epoch is one permutation of the whole set (a pure function of (seed, epoch), the same on every rank),
// cut into global batches of ranks x per_rank_batch images; rank r takes the r-th contiguous block of each.
// The last global batch of an epoch holds the remainder and is split as evenly as possible (the first
// ranks get one more), so every image is seen exactly once per epoch across the ranks. A rank whose share
// of a tail is empty (fewer remaining images than ranks) still steps with every other rank: it is given
// one image of the batch with weight 0, so its collectives and its optimizer step stay in lock-step.
// Gradients are combined as sum_r (n_r / n) g_r: the mean over the global batch, whatever the split, so
// R ranks x batch B follow 1 rank x batch R*B up to float summation order.
#pragma once

#include "ibq/core/config.hpp"
#include <algorithm>

#include "ibq/core/error.hpp"

namespace ibq::dist {

struct BatchPart {
  long epoch = 0;
  index_t begin = 0;     // offset into the epoch's permutation
  index_t n = 0;         // images this rank trains on (>= 1)
  index_t global_n = 0;  // images in the global batch
  bool placeholder = false;  // an empty share: one image with weight 0
  double weight() const { return placeholder ? 0.0 : double(n) / double(global_n); }
};

class ShardedSampler {
 public:
  ShardedSampler(index_t count, int ranks, index_t per_rank_batch)
      : count_(count), ranks_(ranks), batch_(per_rank_batch) {
    IBQ_CHECK(ranks >= 1, "ShardedSampler: ranks must be >= 1, got " << ranks);
    IBQ_CHECK(per_rank_batch >= 1, "ShardedSampler: the batch per rank must be >= 1, got " << per_rank_batch);
    IBQ_CHECK(count >= global_batch(), "train.batch_size " << per_rank_batch << " x " << ranks << " ranks = "
                                                            << global_batch() << " images per step, but the set has "
                                                            << count << "; lower the batch or use fewer ranks");
  }

  index_t global_batch() const { return index_t(ranks_) * batch_; }
  // Steps per epoch: full global batches, plus one for the remainder if there is one.
  long steps_per_epoch() const { return long((count_ + global_batch() - 1) / global_batch()); }

  BatchPart at(long step, int rank) const {
    IBQ_CHECK(step >= 0 && rank >= 0 && rank < ranks_, "ShardedSampler::at(" << step << ", " << rank << ")");
    BatchPart p;
    const long spe = steps_per_epoch();
    p.epoch = step / spe;
    const index_t first = index_t(step % spe) * global_batch();
    p.global_n = std::min(global_batch(), count_ - first);
    const index_t base = p.global_n / ranks_, extra = p.global_n % ranks_;
    p.n = base + (rank < extra ? 1 : 0);
    p.begin = first + rank * base + std::min<index_t>(rank, extra);
    if (p.n == 0) {  // the tail has fewer images than ranks: the batch's first image, weighted 0
      p.placeholder = true;
      p.n = 1;
      p.begin = first;
    }
    return p;
  }

 private:
  index_t count_;
  int ranks_;
  index_t batch_;
};

}  // namespace ibq::dist
