import { describe, expect, it } from 'vitest';
import { BodyList } from '../../relay/body-list.ts';

describe('BodyList', () => {
  it('removes from the head, middle and tail, and a second removal does nothing', () => {
    const l = new BodyList<string>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x, i) => l.add(x, i));
    expect(l.size).toBe(4);
    l.remove(b!);
    l.remove(b!);
    l.remove(a!);
    l.remove(d!);
    expect(l.size).toBe(1);
    expect(l.takeStartedBefore(Infinity).map((e) => e.item)).toEqual(['c']);
    expect(c!.prev).toBeUndefined();
    expect(c!.next).toBeUndefined();
    expect(l.size).toBe(0);
    // Empty again: adding works from scratch.
    l.add('e', 10);
    expect(l.takeStartedBefore(11).map((e) => e.item)).toEqual(['e']);
  });

  it('takes only the entries started before the cutoff, oldest first, and leaves the rest linked', () => {
    const l = new BodyList<number>();
    for (let i = 0; i < 6; i++) l.add(i, i * 10);
    expect(l.takeStartedBefore(25).map((e) => e.item)).toEqual([0, 1, 2]);
    expect(l.size).toBe(3);
    expect(l.takeStartedBefore(25)).toEqual([]);
    expect(l.takeStartedBefore(1000).map((e) => e.item)).toEqual([3, 4, 5]);
  });

  it('drops its links to removed entries, so they are not kept alive through the list', () => {
    const l = new BodyList<object>();
    const first = l.add({}, 0);
    const second = l.add({}, 1);
    const third = l.add({}, 2);
    l.remove(second);
    expect(first.next).toBe(third);
    expect(third.prev).toBe(first);
    expect(second.prev).toBeUndefined();
    expect(second.next).toBeUndefined();
  });
});
