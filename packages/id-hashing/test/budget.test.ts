import { BudgetError } from '@compactrec/core';
import { describe, expect, it } from 'vitest';
import { fitRows, maxRowsForBudget } from '../src/index.js';

describe('budget arithmetic', () => {
  it('maxRowsForBudget floors budget / (rowDim · 4)', () => {
    expect(maxRowsForBudget(256, 64)).toBe(1);
    expect(maxRowsForBudget(255, 64)).toBe(0);
    expect(maxRowsForBudget(0.25 * 29_858 * 64 * 4, 64)).toBe(7464);
    expect(maxRowsForBudget(1000, 32)).toBe(7);
  });

  it('fitRows caps at capRows and throws BudgetError naming budget and minimum below minRows', () => {
    expect(fitRows('m', 10_000 * 256, 64, 1, 500)).toBe(500);
    expect(fitRows('m', 300 * 256 + 255, 64, 1, 500)).toBe(300);
    let err: unknown;
    try {
      fitRows('m', 1000, 64, 10, 500);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BudgetError);
    expect((err as BudgetError).context).toMatchObject({ budgetBytes: 1000, minBytes: 2560, minRows: 10 });
  });
});
