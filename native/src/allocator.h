// Process-wide malloc settings for training (see allocator.cc).
#pragma once

namespace halo {

/** Keeps freed memory in the process instead of returning it to the OS; returns whether it changed anything. */
bool keep_freed_memory();

}  // namespace halo
