export { type BudgetDensity, densityForBudget } from './budget.js';
export {
  BITMAP_BLOCK_ROWS,
  type CompactFormat,
  type CompactSparseArrays,
  CompactSparseTable,
  CSR16_MAX_DIM,
  chooseCompactFormat,
  compactTableBytes,
} from './compact.js';
export { DslTable, type DslUpdateStats } from './dsl-table.js';
export {
  DEFAULT_DSL_OPTIONS,
  type DslGrowth,
  type DslOptions,
  type DslSchedule,
  pruneRateAt,
} from './options.js';
export {
  DSL_COMPACT_TABLE_KIND,
  DSL_COMPACT_TABLE_VERSION,
  decodeCompactTable,
  encodeCompactTable,
  loadCompactTable,
  saveCompactTable,
} from './persist.js';
export { DEFAULT_DSL_STORAGE_EXTRA, DSL_STORAGE, DSL_STORAGE_NAME } from './storage.js';
