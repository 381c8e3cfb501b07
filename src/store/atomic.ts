import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { writingTo } from "../errors.ts";

/**
 * Write a file so that readers see the old content or the new, never a torn one. A refused write
 * (disk full, read-only, permission) is a StorageError naming `path`, and leaves no temporary
 * file behind: a full disk must not get fuller with half-written copies.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  writingTo(path, () => {
    try {
      mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(tmp, "w");
      try {
        writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } catch (error) {
      rmSync(tmp, { force: true });
      throw error;
    }
  });
}
