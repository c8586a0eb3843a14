import { describe, expect, it } from 'vitest';
import { paretoFront } from '../../src/report/pareto.js';

describe('paretoFront', () => {
  const points = [
    { cost: 1, quality: 0.2 }, // cheapest: on the front
    { cost: 2, quality: 0.1 }, // dearer and worse than the first
    { cost: 2, quality: 0.5 }, // on
    { cost: 3, quality: 0.5 }, // as good as a cheaper one: off
    { cost: 5, quality: 0.7 }, // on
    { cost: Number.NaN, quality: 0.9 }, // no cost: never on
  ];

  it('keeps what nothing beats on both cost and quality (higher is better)', () => {
    expect([...paretoFront(points, 'max')].sort()).toEqual([0, 2, 4]);
  });

  it('reads lower as better for a min objective', () => {
    expect([...paretoFront(points, 'min')].sort()).toEqual([0, 1]); // the cheapest, then the lower value at cost 2
  });

  it('keeps the first of identical points', () => {
    expect([...paretoFront([{ cost: 1, quality: 1 }, { cost: 1, quality: 1 }], 'max')]).toEqual([0]);
  });
});
