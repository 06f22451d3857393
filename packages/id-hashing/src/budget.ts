import { BudgetError, FLOAT32_BYTES } from '@compactrec/core';

/** Bytes of one float32 value. */
export const FLOAT_BYTES = FLOAT32_BYTES;

/**
 * Bytes a mapper's lookup reads per scalar it keeps (a modulus, hash coefficients, a seed): we
 * count every stored number as a float64 so `mappingBytes` never understates.
 */
export const SCALAR_BYTES = 8;

/** The most table rows of `rowDim` float32 values that fit in `budgetBytes` (floor; may be 0). */
export function maxRowsForBudget(budgetBytes: number, rowDim: number): number {
  return Math.floor(budgetBytes / (rowDim * FLOAT_BYTES));
}

/**
 * The row count a method gets from a budget: the most rows that fit, capped at `capRows` (the
 * row count beyond which more rows cannot help, usually the number of IDs). Throws
 * {@link BudgetError} naming the budget and the method's minimum when fewer than `minRows` fit,
 * so a caller never silently gets a table above its budget.
 */
export function fitRows(method: string, budgetBytes: number, rowDim: number, minRows: number, capRows: number): number {
  const fit = maxRowsForBudget(budgetBytes, rowDim);
  if (fit < minRows) {
    const minBytes = minRows * rowDim * FLOAT_BYTES;
    throw new BudgetError(
      `id-hashing/${method}: budgetBytes (${budgetBytes}) is below this method's smallest table (${minRows} rows × ${rowDim} values × 4 = ${minBytes} bytes); raise the budget or pick another method`,
      { context: { method, budgetBytes, minBytes, minRows, rowDim } },
    );
  }
  return Math.min(fit, capRows);
}
