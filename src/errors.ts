/**
 * Error classes the CLI maps to exit codes: 2 for bad usage or a bad config (the user must change
 * something they wrote), 1 for everything that failed while doing the work.
 */

export class OsrmError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage or a bad config: exit code 2. */
export class UsageError extends OsrmError {
  override readonly exitCode = 2;
}
