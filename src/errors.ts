/**
 * Error classes the CLI maps to exit codes: 2 for bad usage, a bad config or bad input (the user
 * must change something they wrote or gave: a file, a folder, a row), 1 for everything that
 * failed while doing the work.
 *
 * File-system refusals are StorageErrors, which name the path: a path the user chose that cannot
 * be written (read-only file system, permission denied) is exit 2, like any unusable input; a
 * full disk (or quota) is exit 1 — nothing the user gave is wrong, the machine ran out.
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

/** The errno codes that make a place unusable as a whole, in words, with what to do. */
export const STORAGE_CODES: Readonly<Record<string, { what: string; todo: string; exitCode: 1 | 2 }>> = {
  ENOSPC: { what: "no space left on the device", todo: "free space there or choose another output folder", exitCode: 1 },
  EDQUOT: { what: "the disk quota is exhausted", todo: "free space there or choose another output folder", exitCode: 1 },
  EROFS: { what: "the file system is read-only", todo: "choose an output folder you can write to", exitCode: 2 },
  EACCES: { what: "permission denied", todo: "choose an output folder you can write to, or change its permissions", exitCode: 2 },
  EPERM: { what: "operation not permitted", todo: "choose an output folder you can write to, or change its permissions", exitCode: 2 },
};

/** The file system refused a write (or read): disk full, read-only, permission denied. */
export class StorageError extends OsrmError {
  override readonly exitCode: number;
  constructor(
    readonly code: string,
    readonly path: string | undefined,
    options?: { cause?: unknown },
  ) {
    const known = STORAGE_CODES[code]!;
    super(`${path ?? "writing a file"}: ${known.what} (${code}); ${known.todo}`, options);
    this.exitCode = known.exitCode;
  }
}

/**
 * A Node file-system error as a StorageError naming its path (Node names none for a failed
 * write() or fsync(), so the caller passes the file it was writing); null for other errors.
 */
export function asStorageError(error: unknown, path?: string): StorageError | null {
  if (error instanceof StorageError) return error;
  const errno = error as NodeJS.ErrnoException | undefined;
  if (!errno || typeof errno !== "object" || typeof errno.code !== "string" || !(errno.code in STORAGE_CODES)) return null;
  return new StorageError(errno.code, errno.path ?? path, { cause: error });
}

/** Runs `write`, turning a file-system refusal into a StorageError that names `path`. */
export function writingTo<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    throw asStorageError(error, path) ?? error;
  }
}
