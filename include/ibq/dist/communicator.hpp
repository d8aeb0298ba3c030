// ibq/dist/communicator.hpp — the MPI operations data-parallel training needs, on host or device buffers.
//
//   ibq::dist::MpiSession mpi(argc, argv);          // MPI up before Kokkos, down after it (drivers/common/runtime.hpp)
//   auto comm = ibq::dist::Communicator::world();   // or Communicator{} for one process without MPI
//   comm.broadcast(store.flat_values());            // rank 0's initial parameters everywhere
//   comm.allreduce_sum(store.flat_grads());         // one call over the whole flat gradient buffer
//   double loss = comm.sum(local_loss * weight);
//
// A default-constructed Communicator is a single process that never calls MPI, so the library and its
// unit tests run without mpirun. Device buffers go through a host copy (a CUDA-aware MPI is not assumed).
#pragma once

// The C API only: OpenMPI's and MPICH's mpi.h would otherwise pull in their deprecated C++ bindings,
// which need libmpi_cxx at link time.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <cstdlib>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "ibq/core/error.hpp"
#include "ibq/core/tensor.hpp"

namespace ibq::dist {

template <class T>
MPI_Datatype mpi_type() {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int32_t>) return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, std::int64_t>) return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return MPI_UINT8_T;
  else static_assert(sizeof(T) == 0, "mpi_type: no MPI datatype for this type");
}

inline void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  IBQ_THROW(what << " failed: " << std::string(msg, std::size_t(len)));
}

// MPI for the life of the object: initialised (threads funneled through the main thread) unless someone
// already did, finalised only by the object that initialised it.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int up = 0;
    MPI_Initialized(&up);
    if (up) return;
    // Started without mpirun/srun: Open MPI's singleton start-up spawns an orted daemon and takes 2.7 s
    // (Open MPI 4.1, measured); an isolated singleton starts in 0.25 s, and one process needs no daemon.
    if (!std::getenv("OMPI_COMM_WORLD_SIZE") && !std::getenv("PMIX_RANK") && !std::getenv("PMI_RANK"))
      setenv("OMPI_MCA_ess_singleton_isolated", "1", /*overwrite=*/0);
    int provided = 0;
    mpi_check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);  // errors become ibq::Error, not aborts
    owner_ = true;
  }
  ~MpiSession() {
    int down = 0;
    MPI_Finalized(&down);
    if (owner_ && !down) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  // Leaves MPI running at destruction (the caller will MPI_Abort).
  void release() { owner_ = false; }

 private:
  bool owner_ = false;
};

class Communicator {
 public:
  Communicator() = default;  // one process, no MPI

  static Communicator world() {
    int up = 0;
    MPI_Initialized(&up);
    IBQ_CHECK(up, "Communicator::world(): MPI is not initialised (create an ibq::dist::MpiSession first)");
    Communicator c;
    c.comm_ = MPI_COMM_WORLD;
    MPI_Comm_rank(c.comm_, &c.rank_);
    MPI_Comm_size(c.comm_, &c.size_);
    return c;
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  void barrier() const {
    if (distributed()) mpi_check(MPI_Barrier(comm_), "MPI_Barrier");
  }

  // In place: every rank ends with the element-wise sum over ranks (the same bits on every rank).
  template <class T>
  void allreduce_sum(T* data, std::size_t n) const {
    if (!distributed() || n == 0) return;
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, data, int(n), mpi_type<T>(), MPI_SUM, comm_), "MPI_Allreduce");
  }
  template <class T, class Space>
  void allreduce_sum(const Tensor<T, Space>& t) const {
    if (distributed()) on_host(t, [&](T* p) { allreduce_sum(p, std::size_t(t.size())); });
  }
  double sum(double x) const {
    allreduce_sum(&x, 1);
    return x;
  }
  double max(double x) const {
    if (distributed()) mpi_check(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce");
    return x;
  }

  template <class T>
  void broadcast(T* data, std::size_t n, int from = 0) const {
    if (!distributed() || n == 0) return;
    mpi_check(MPI_Bcast(data, int(n), mpi_type<T>(), from, comm_), "MPI_Bcast");
  }
  template <class T, class Space>
  void broadcast(const Tensor<T, Space>& t, int from = 0) const {
    if (distributed()) on_host(t, [&](T* p) { broadcast(p, std::size_t(t.size()), from); });
  }
  void broadcast(std::string& s, int from = 0) const {
    if (!distributed()) return;
    std::uint64_t n = s.size();
    broadcast(&n, 1, from);
    s.resize(n);
    broadcast(reinterpret_cast<std::uint8_t*>(s.data()), n, from);
  }

  // Rank 0 receives every rank's values in rank order (others get an empty vector).
  template <class T>
  std::vector<T> gather_to_root(const std::vector<T>& mine) const {
    if (!distributed()) return mine;
    const int n = int(mine.size());
    std::vector<int> counts(root() ? std::size_t(size_) : 0), offsets(counts.size());
    mpi_check(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, comm_), "MPI_Gather");
    std::vector<T> all;
    if (root()) {
      int total = 0;
      for (int r = 0; r < size_; ++r) offsets[std::size_t(r)] = total, total += counts[std::size_t(r)];
      all.resize(std::size_t(total));
    }
    mpi_check(MPI_Gatherv(mine.data(), n, mpi_type<T>(), all.data(), counts.data(), offsets.data(), mpi_type<T>(), 0,
                          comm_),
              "MPI_Gatherv");
    return all;
  }

  // True on every rank iff it is true on every rank (so a check that fails anywhere stops all ranks).
  bool all(bool ok) const {
    int v = ok ? 1 : 0;
    if (distributed()) mpi_check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LAND, comm_), "MPI_Allreduce");
    return v != 0;
  }

 private:
  // Runs f on a host pointer to t's data: t's own memory when the host can reach it, else a copy.
  template <class T, class Space, class F>
  static void on_host(const Tensor<T, Space>& t, F&& f) {
    if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible) {
      Kokkos::fence();
      f(t.data());
    } else {
      auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), t.view());
      f(host.data());
      Kokkos::deep_copy(t.view(), host);
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
};

}  // namespace ibq::dist
