import { BudgetError, InvalidArgumentError } from '@compactrec/core';
import { type CompactFormat, CSR16_MAX_DIM, chooseCompactFormat, compactTableBytes } from './compact.js';

/** What {@link densityForBudget} chose. */
export interface BudgetDensity {
  /** Density to pass to `DslTable` (`round(density · rows · dim)` equals `nnz`). */
  density: number;
  /** Active weights the budget pays for. */
  nnz: number;
  /** The smaller compact format at that `nnz`. */
  format: CompactFormat;
  /** Exact bytes of the compact table (≤ the budget). */
  bytes: number;
}

/**
 * The largest density whose compact inference storage (index overhead included, in the smaller of the
 * two formats) fits `budgetBytes`: inverts {@link compactTableBytes}. Capped at density 1.
 * @throws BudgetError when not even one weight fits beside the fixed index overhead.
 */
export function densityForBudget(
  budgetBytes: number,
  rows: number,
  dim: number,
  valueBytes = 4,
  rowOverheadBytes = 0,
): BudgetDensity {
  const where = 'dsl/densityForBudget';
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(dim) || dim < 1) {
    throw new InvalidArgumentError(`${where}: rows (${rows}) and dim (${dim}) must be positive integers`);
  }
  if (typeof budgetBytes !== 'number' || !(budgetBytes >= 0) || !Number.isFinite(budgetBytes)) {
    throw new InvalidArgumentError(`${where}: budgetBytes (${budgetBytes}) must be a finite non-negative number`);
  }
  const total = rows * dim;
  // Per-row overhead of the value encoding (e.g. an int8 row's scale and bias) is fixed like the index.
  const B = Math.floor(budgetBytes) - rows * rowOverheadBytes;
  const fixedBitmap = compactTableBytes('bitmap', rows, dim, 0, valueBytes);
  const fixedCsr = compactTableBytes('csr16', rows, dim, 0, valueBytes);
  const nnzBitmap = Math.floor((B - fixedBitmap) / valueBytes);
  const nnzCsr = dim <= CSR16_MAX_DIM ? Math.floor((B - fixedCsr) / (2 + valueBytes)) : -1;
  const nnz = Math.min(total, Math.max(nnzBitmap, nnzCsr));
  if (nnz < 1) {
    throw new BudgetError(
      `${where}: budgetBytes (${budgetBytes}) does not cover the index overhead of ${rows} rows plus one weight ` +
        `(${Math.min(fixedBitmap + valueBytes, fixedCsr + 2 + valueBytes) + rows * rowOverheadBytes} bytes); raise the budget or use fewer rows`,
      { context: { budgetBytes, rows, dim } },
    );
  }
  const format = chooseCompactFormat(rows, dim, nnz, valueBytes);
  return {
    density: nnz / total,
    nnz,
    format,
    bytes: compactTableBytes(format, rows, dim, nnz, valueBytes) + rows * rowOverheadBytes,
  };
}
