/** An item in a BodyList: what was added, when, and its links. */
export interface BodyEntry<T> {
  item: T;
  started: number;
  prev: BodyEntry<T> | undefined;
  next: BodyEntry<T> | undefined;
  linked: boolean;
}

/**
 * Request bodies being read, oldest first, for the slow-body sweep: an
 * intrusive doubly linked list rather than a Set. A long-lived Set with an
 * add and a delete per request rehashes every few requests, and V8 links each
 * obsolete table to its successor without clearing it, so once a
 * mark-compact promotes one, the requests that later tables point at survive
 * every scavenge until the next mark-compact (see MessageStore's queuedIds).
 * Entries are added in time order, so a sweep stops at the first one still
 * in time.
 */
export class BodyList<T> {
  private head: BodyEntry<T> | undefined;
  private tail: BodyEntry<T> | undefined;
  size = 0;

  add(item: T, started: number): BodyEntry<T> {
    const e: BodyEntry<T> = { item, started, prev: this.tail, next: undefined, linked: true };
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    this.size++;
    return e;
  }

  /** Unlinks `e`; removing one already removed does nothing. */
  remove(e: BodyEntry<T>): void {
    if (!e.linked) return;
    e.linked = false;
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = undefined;
    this.size--;
  }

  /** Removes and returns the entries started before `cutoff`, oldest first. */
  takeStartedBefore(cutoff: number): BodyEntry<T>[] {
    const out: BodyEntry<T>[] = [];
    while (this.head && this.head.started < cutoff) {
      const e = this.head;
      this.remove(e);
      out.push(e);
    }
    return out;
  }
}
