/**
 * Multi-host membership (issue #16): which instance owns which partition, known to every member.
 *
 * Every member of the consumer group publishes its HTTP address (and the partitions it owns now) in
 * the group protocol's member metadata (`userData`), and the group leader assigns partitions with
 * {@link stickyAssignment}, which keeps a member's partitions where the balance allows (each moved
 * partition costs a restore). The broker hands the chosen assignment and every member's metadata to
 * anyone who asks (DescribeGroups), so each instance can map a user → its partition (the producer's
 * murmur2 key partitioner, {@link partitionOfUser}) → the owner's address without a topic or a
 * registry of its own: the assignment in force IS the routing table, and while the group is not
 * Stable (a rebalance) there is no owner to name, so a read answers 503.
 */
import { AssignerProtocol, type PartitionAssigner, Partitioners } from 'kafkajs';

/** What a member publishes about itself in the group metadata. */
export interface MemberInfo {
  /** Base URL of the member's HTTP API (`http://host:port`). */
  readonly url: string;
  /** Partitions the member owns now (the assignor keeps them where it can). */
  readonly owned: readonly number[];
  /** Partitions the member keeps standby copies of (the assignor gives a free partition to one of them first). */
  readonly standby?: readonly number[];
}

/** The group's assignment as a member sees it. */
export interface GroupRouting {
  /** True when the group is Stable (no rebalance running). */
  readonly stable: boolean;
  /** Partition → owner URL (only for a Stable group). */
  readonly owners: ReadonlyMap<number, string>;
}

/** Name of the assignor; every member of a multi-host group must use it. */
export const STICKY_ASSIGNOR = 'CompactRecSticky';

/**
 * Balanced and sticky: each member gets ⌊P/M⌋ or ⌈P/M⌉ partitions; a member keeps the partitions it
 * owned (up to its quota), the rest go to the members below their quota, in partition order. Members
 * sorted by id, so every leader computes the same result from the same input.
 */
export function stickyAssignment(
  partitions: readonly number[],
  members: readonly { id: string; owned: readonly number[]; standby?: readonly number[] }[],
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (members.length === 0) return out;
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const base = Math.floor(partitions.length / sorted.length);
  let extra = partitions.length % sorted.length;
  // Members that owned more get the ⌈P/M⌉ quotas first (fewer moves).
  const byOwned = [...sorted].sort((a, b) => b.owned.length - a.owned.length || (a.id < b.id ? -1 : 1));
  const quota = new Map<string, number>();
  for (const m of byOwned) quota.set(m.id, base + (extra-- > 0 ? 1 : 0));
  const free = new Set(partitions);
  for (const m of sorted) {
    const mine: number[] = [];
    for (const p of m.owned) {
      if (mine.length >= quota.get(m.id)! || !free.has(p)) continue;
      free.delete(p);
      mine.push(p);
    }
    out.set(m.id, mine);
  }
  // A free partition goes first to a member below its quota that keeps a standby copy of it (its
  // take-over then needs only the changelog's tail), then in partition order to the others.
  for (const p of [...free].sort((a, b) => a - b)) {
    const m = sorted.find((x) => x.standby?.includes(p) && out.get(x.id)!.length < quota.get(x.id)!);
    if (m === undefined) continue;
    out.get(m.id)!.push(p);
    free.delete(p);
  }
  const rest = [...free].sort((a, b) => a - b);
  for (const m of sorted) {
    const mine = out.get(m.id)!;
    while (mine.length < quota.get(m.id)! && rest.length > 0) mine.push(rest.shift()!);
    mine.sort((a, b) => a - b);
  }
  return out;
}

/** A kafkajs partition assigner that publishes `info()` and assigns with {@link stickyAssignment}. */
export function stickyAssigner(info: () => MemberInfo): PartitionAssigner {
  return ({ cluster }) => ({
    name: STICKY_ASSIGNOR,
    version: 1,
    async assign({ members, topics }) {
      const assignment = new Map<string, Record<string, number[]>>();
      for (const m of members) assignment.set(m.memberId, {});
      for (const topic of topics) {
        const partitions = cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId);
        const input = members.map((m) => {
          const info = decodeMemberInfo(m.memberMetadata);
          return { id: m.memberId, owned: info?.owned ?? [], standby: info?.standby ?? [] };
        });
        for (const [id, ps] of stickyAssignment(partitions, input)) assignment.get(id)![topic] = ps;
      }
      return [...assignment].map(([memberId, a]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: a,
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: STICKY_ASSIGNOR,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.from(JSON.stringify(info())),
        }),
      };
    },
  });
}

/** The {@link MemberInfo} in a member's group metadata, or undefined (another assignor, bad bytes). */
export function decodeMemberInfo(metadata: Buffer | undefined): MemberInfo | undefined {
  if (!metadata || metadata.length === 0) return undefined;
  try {
    const m = AssignerProtocol.MemberMetadata.decode(metadata);
    if (!m?.userData || m.userData.length === 0) return undefined;
    const o = JSON.parse(m.userData.toString('utf8')) as MemberInfo;
    if (typeof o?.url !== 'string' || !Array.isArray(o.owned)) return undefined;
    return o;
  } catch {
    return undefined;
  }
}

/** Partitions of `topic` in a member's assignment bytes. */
export function decodeAssignment(bytes: Buffer | undefined, topic: string): number[] {
  if (!bytes || bytes.length === 0) return [];
  try {
    return AssignerProtocol.MemberAssignment.decode(bytes)?.assignment?.[topic] ?? [];
  } catch {
    return [];
  }
}

const partitioner = Partitioners.DefaultPartitioner();
const metaCache = new Map<number, { partitionId: number; leader: number }[]>();

/**
 * The partition of `userId` among `partitions`, as kafkajs' default partitioner (murmur2 of the key,
 * the Java client's rule) places an event keyed by the user id. Producers must key events that way
 * (bse produce and the generator do) for reads to find the owner.
 */
export function partitionOfUser(userId: string, partitions: number): number {
  let meta = metaCache.get(partitions);
  if (!meta) {
    meta = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0 }));
    metaCache.set(partitions, meta);
  }
  return partitioner({
    topic: '',
    partitionMetadata: meta as never,
    message: { key: userId, value: null },
  });
}

/** Where a read of one user goes (see {@link RoutingTable.route}). */
export type ReadRoute =
  | { readonly kind: 'local'; readonly self: string }
  | { readonly kind: 'forward'; readonly url: string }
  | { readonly kind: 'unavailable'; readonly message: string };

/** What an instance knows about the group for routing reads, as sent to its HTTP side. */
export interface RoutingSnapshot {
  /** Partitions of the events topic. */
  readonly partitions: number;
  /** This instance's own URL (as published). */
  readonly self: string;
  /** Owned partitions whose state is complete (restored/current): answered locally. */
  readonly ready: readonly number[];
  /** The group's assignment when last seen Stable (partition, owner URL); empty during a rebalance. */
  readonly owners: readonly (readonly [number, string])[];
}

/**
 * Routes reads by the user's partition: answered here when this instance owns the partition and its
 * state is complete; forwarded (once) to the owner the group's assignment names; otherwise — during a
 * rebalance, a restore, or when a forwarded request reaches a non-owner — unavailable (503 +
 * Retry-After), never an answer from a state this instance does not own.
 */
export class RoutingTable {
  private snap: RoutingSnapshot | undefined;
  private ready = new Set<number>();
  private owners = new Map<number, string>();

  /** Replaces the table. */
  update(s: RoutingSnapshot): void {
    this.snap = s;
    this.ready = new Set(s.ready);
    this.owners = new Map(s.owners);
  }

  /** Where to read `userId`; `forwarded` = the request already came from another instance. */
  route(userId: string, forwarded: boolean): ReadRoute {
    const s = this.snap;
    if (!s) return { kind: 'unavailable', message: 'this instance has not joined the group yet' };
    const p = partitionOfUser(userId, s.partitions);
    if (this.ready.has(p)) return { kind: 'local', self: s.self };
    const owner = this.owners.get(p);
    if (owner !== undefined && owner !== s.self && !forwarded) return { kind: 'forward', url: owner };
    return {
      kind: 'unavailable',
      message: `partition ${p} of user '${userId}' is being handed over (rebalance or restore from the changelog); retry shortly`,
    };
  }
}
