// Roster: the server's list of requests in flight (roster.ts).
import { expect } from 'chai';
import { Roster } from '../roster.ts';

describe('roster', () => {
  const member = (name: string) => ({ name, place: -1 });

  it('adds and removes in any order, keeping every other member', () => {
    const list = new Roster<ReturnType<typeof member>>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(member) as [ReturnType<typeof member>, ReturnType<typeof member>, ReturnType<typeof member>, ReturnType<typeof member>];
    for (const m of [a, b, c, d]) list.add(m);
    list.remove(b);
    list.remove(b); // twice: nothing more happens
    expect(list.size).to.equal(3);
    expect(list.snapshot().map((m) => m.name).sort()).to.deep.equal(['a', 'c', 'd']);
    list.remove(d);
    list.remove(a);
    expect(list.snapshot()).to.deep.equal([c]);
    expect(c.place).to.equal(0);
    expect(a.place).to.equal(-1);
  });

  it('visits every member once while each removes itself, or others as well', () => {
    const list = new Roster<ReturnType<typeof member>>();
    const all = Array.from({ length: 6 }, (_, i) => member(String(i)));
    for (const m of all) list.add(m);
    const seen = new Set<string>();
    list.forEachRemovable((m) => {
      seen.add(m.name);
      list.remove(m);
      if (m.name === '4') list.remove(all[1]!); // a member not reached yet leaves early
    });
    expect(list.size).to.equal(0);
    expect([...seen].sort()).to.deep.equal(['0', '2', '3', '4', '5']);
  });
});
