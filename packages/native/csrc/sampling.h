// Triple sampling of BPR: which (user, positive) pairs a batch visits, and uniform negatives
// outside the user's training items.
#pragma once
#include "common.h"

namespace crn {

// Whether the sorted run a[lo..hi) holds x.
static inline bool contains(const int32_t* a, uint32_t lo, uint32_t hi, int32_t x) {
  const uint32_t end = hi;
  while (lo < hi) {
    uint32_t mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < end && a[lo] == x;
}

struct NegativeSampler {
  const int32_t* trainItems;
  uint32_t numItems;
  // A uniform item outside the user's training items [lo, hi).
  inline int32_t draw(Rng& rng, uint32_t lo, uint32_t hi) const {
    if (hi - lo >= numItems) return (int32_t)rng.below(numItems);  // no true negative exists
    int32_t j;
    do j = (int32_t)rng.below(numItems);
    while (contains(trainItems, lo, hi, j));
    return j;
  }
};

}  // namespace crn
