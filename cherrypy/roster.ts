/**
 * A roster: a list whose members know their place in it (`place`), for the
 * server's bookkeeping of requests in flight: adding is a push and removing a
 * swap with the last member, so neither makes garbage. A Set would do the same job, but
 * its table is grown, shrunk and copied as bursts of requests come and go,
 * and under load that copying showed up as garbage-collection time.
 * Order is not kept. A member belongs to one list at a time.
 */
export interface Placed {
  place: number;
}

export class Roster<T extends Placed> {
  private readonly members: T[] = [];

  get size(): number {
    return this.members.length;
  }

  add(member: T): void {
    member.place = this.members.push(member) - 1;
  }

  remove(member: T): void {
    const { members } = this;
    if (members[member.place] !== member) return; // not (or no longer) here
    const last = members.pop()!;
    if (last !== member) {
      members[member.place] = last;
      last.place = member.place;
    }
    member.place = -1;
  }

  /** The members now, as a copy: safe to remove members while going through it. */
  snapshot(): T[] {
    return this.members.slice();
  }

  /** Calls `fn` for each member, last first: `fn` may remove the member it is given. */
  forEachRemovable(fn: (member: T) => void): void {
    const { members } = this;
    for (let i = members.length - 1; i >= 0; i--) {
      const member = members[i];
      if (member !== undefined) fn(member);
    }
  }
}
