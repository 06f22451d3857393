/** Append-only typed-array buffers that double their capacity (amortized O(1) push, no per-element objects). */

type NumericArray = Int32Array | Float32Array | Float64Array | Uint32Array;
type Ctor<T extends NumericArray> = { new (n: number): T };

/** A growable typed array; `trimmed()` returns a right-sized copy. */
export class Growable<T extends NumericArray> {
  data: T;
  length = 0;
  private readonly ctor: Ctor<T>;

  constructor(ctor: Ctor<T>, capacity = 1024) {
    this.ctor = ctor;
    this.data = new ctor(Math.max(16, capacity));
  }

  push(v: number): void {
    if (this.length === this.data.length) this.grow(this.length + 1);
    this.data[this.length++] = v;
  }

  /** Makes room for `extra` more values without changing `length`. */
  reserve(extra: number): void {
    if (this.length + extra > this.data.length) this.grow(this.length + extra);
  }

  /** A copy holding exactly `length` values. */
  trimmed(): T {
    return this.data.slice(0, this.length) as T;
  }

  private grow(min: number): void {
    let cap = this.data.length * 2;
    while (cap < min) cap *= 2;
    const next = new this.ctor(cap);
    next.set(this.data.subarray(0, this.length) as never);
    this.data = next;
  }
}
