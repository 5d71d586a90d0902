/**
 * A bounded map that forgets a least recently used entry when full, by the "second chance" (CLOCK)
 * rule: a read only marks its entry used, and eviction walks from the oldest insertion, giving each
 * used entry another round (re-inserted at the back, mark cleared) until it meets an unused one.
 * A hit is then one `Map.get`, where moving the entry on every read (delete + set) cost a tenth of a
 * request on the hottest paths (a token verified, a seat map re-read); eviction stays O(1) amortized.
 */
export class Lru<K, V> {
  private readonly entries = new Map<K, { value: V; used: boolean }>();

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new Error('an LRU needs a capacity of at least 1');
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.value;
  }

  set(key: K, value: V): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      entry.value = value;
      entry.used = true;
      return;
    }
    if (this.entries.size >= this.capacity) this.evictOne();
    this.entries.set(key, { value, used: false });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private evictOne(): void {
    // Re-inserted entries are visited again at the end of the walk, unmarked: it always ends.
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (!entry.used) return;
      entry.used = false;
      this.entries.set(key, entry);
    }
  }
}
