/**
 * Error classes shared by every CompactRec package.
 *
 * Code branches on the class (or `name`), never on message text. Messages follow
 * `<package>/<function>: what is wrong (the offending value); what to do`.
 */

/** Base class: every error CompactRec throws on purpose is one of these. */
export class CompactRecError extends Error {
  /** Structured context (file, line, option, value...) for programs that handle the error. */
  readonly context: Readonly<Record<string, unknown>>;
  /** Whether retrying the same operation may succeed (I/O, broker). Unknown errors are not retriable. */
  readonly retriable: boolean;

  constructor(
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown>; retriable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CompactRecError';
    this.context = options.context ?? {};
    this.retriable = options.retriable ?? false;
  }
}

/** An argument or option has the wrong type or is out of range. */
export class InvalidArgumentError extends CompactRecError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, options);
    this.name = 'InvalidArgumentError';
  }
}

/** An input file or record is malformed. `context.file` and `context.line` locate it. */
export class DataFormatError extends CompactRecError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, what: string, options: { cause?: unknown } = {}) {
    super(`${file}:${line}: ${what}`, { ...options, context: { file, line } });
    this.name = 'DataFormatError';
    this.file = file;
    this.line = line;
  }
}

/** A lookup for an ID, method, key or file that does not exist. */
export class NotFoundError extends CompactRecError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, options);
    this.name = 'NotFoundError';
  }
}

/** A byte budget that no configuration of a method can meet. */
export class BudgetError extends CompactRecError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, options);
    this.name = 'BudgetError';
  }
}

/** A call made in the wrong state, or a checkpoint from an incompatible version. */
export class UsageError extends CompactRecError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, options);
    this.name = 'UsageError';
  }
}
