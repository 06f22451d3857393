/**
 * Unseen IDs: an ID that arrives after clustering joins a cluster by its interactions, with no
 * re-clustering (the reference has no answer for new IDs).
 */
import { type IdMapper, InvalidArgumentError } from '@compactrec/core';
import { GraphHashMapper, type UnseenAssignment } from './mapper.js';

/**
 * Places `id` (≥ the mapper's numIds) into the cluster of its neighbours with the largest
 * bipartite modularity gain (ties: the majority cluster); with no clustered neighbour it keeps
 * the hash fallback. Later `mapInto` calls return the assigned row. See {@link GraphHashMapper.assign}.
 * @param neighbors the other side's IDs it interacted with (items for a user mapper)
 */
export function assignUnseen(mapper: IdMapper, id: number, neighbors: ArrayLike<number>): UnseenAssignment {
  if (!(mapper instanceof GraphHashMapper)) {
    throw new InvalidArgumentError(
      `graphhash/assignUnseen: mapper is a '${mapper?.method}' mapper; only GraphHash mappers can assign unseen IDs`,
    );
  }
  return mapper.assign(id, neighbors);
}
