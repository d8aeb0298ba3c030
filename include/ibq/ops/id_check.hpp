// ibq/ops/id_check.hpp — whether an op that indexes with integer ids (embedding, cross_entropy) checks them.
//
//   embedding(table, tokens);                    // ids from data or users: read back and checked on the host
//   embedding(codebook, argmax_ids, IdCheck::none);  // ids the library computed: in range by construction
//
// An out-of-range id would read or write outside a table, so ids are checked by default. The check reads
// them back to the host, which on a GPU is a device-to-host copy that stalls a training step; ids that are
// in range by construction (an argmax over the table's rows) or were checked where they were on the host
// already (a token dataset as it is read) skip it.
#pragma once

namespace ibq {
enum class IdCheck { host, none };
}  // namespace ibq
