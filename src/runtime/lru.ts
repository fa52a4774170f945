/**
 * An intrusive doubly-linked LRU list: the cache entries are the nodes, so
 * touching, inserting, removing and finding the oldest are all O(1) with no
 * allocation, which keeps a cache hit to a few pointer writes.
 *
 * @module
 */

/** What an entry carries to be in an {@link LruList}. */
export interface LruNode {
  lruPrev: LruNode | null;
  lruNext: LruNode | null;
  /** Bytes this entry counts against the byte budget. */
  lruBytes: number;
  /** Whether the node is in a list. */
  lruLinked: boolean;
}

/** Most recent at the head, least recent at the tail. */
export class LruList<T extends LruNode> {
  #head: T | null = null;
  #tail: T | null = null;
  #count = 0;
  #bytes = 0;

  /** Entries in the list. */
  get count(): number {
    return this.#count;
  }

  /** Sum of the entries' bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds `node` as the most recent. */
  insert(node: T): void {
    if (node.lruLinked) throw new Error("LruList: node already linked");
    node.lruLinked = true;
    node.lruPrev = null;
    node.lruNext = this.#head;
    if (this.#head) this.#head.lruPrev = node;
    this.#head = node;
    if (!this.#tail) this.#tail = node;
    this.#count++;
    this.#bytes += node.lruBytes;
  }

  /** Marks `node` as the most recent. */
  touch(node: T): void {
    if (this.#head === node) return;
    this.#unlink(node);
    node.lruPrev = null;
    node.lruNext = this.#head;
    if (this.#head) this.#head.lruPrev = node;
    this.#head = node;
    if (!this.#tail) this.#tail = node;
  }

  /** Takes `node` out of the list. */
  remove(node: T): void {
    if (!node.lruLinked) return;
    this.#unlink(node);
    node.lruLinked = false;
    node.lruPrev = node.lruNext = null;
    this.#count--;
    this.#bytes -= node.lruBytes;
  }

  /** The least recently used entry. */
  oldest(): T | null {
    return this.#tail;
  }

  /** Unlinks every entry. */
  clear(): void {
    for (let n = this.#head; n; n = n.lruNext as T | null) n.lruLinked = false;
    this.#head = this.#tail = null;
    this.#count = this.#bytes = 0;
  }

  #unlink(node: T): void {
    const prev = node.lruPrev as T | null, next = node.lruNext as T | null;
    if (prev) prev.lruNext = next;
    else this.#head = next;
    if (next) next.lruPrev = prev;
    else this.#tail = prev;
  }
}
