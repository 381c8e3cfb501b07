/**
 * Content digests of local files and folders: what a job's identity holds in place of a path, so
 * that moving a model, a data file or a whole clone keeps every finished job done.
 *
 *   file    sha256 of its bytes
 *   folder  sha256 over its files (recursively, by relative path with "/", sorted), one line each:
 *           `<relative path>\0<sha256 of the file's bytes>\n`. Hidden entries (".git", ".cache")
 *           and Markdown files (model cards, notes) are left out: they do not change what a
 *           model computes or what a data set holds, and editing a card must not re-run a sweep.
 *           A model folder (config.json or adapter_config.json at its top) counts only the files
 *           that loading it reads (MODEL_FILES): its training records (loss.csv, metrics.json,
 *           ...) can be rewritten without making it another model.
 *
 * Written `sha256:<hex>`. Reading a large model's weights takes seconds, so every digest is cached
 * in the per-user cache, one file per path, with each file's size and modification time (ns):
 * a re-plan stats the files and reads only those that changed. python/osrm_runtime/digest.py
 * computes the same digests and shares the cache (test/digest.test.ts checks both agree).
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../store/atomic.ts";
import { cacheDir } from "../runtime/paths.ts";

export const DIGEST_CACHE_VERSION = 2;

/** [relative path, size, mtime in ns (decimal), sha256 hex] */
type FileEntry = [string, number, string, string];

interface CacheEntry {
  version: number;
  path: string;
  kind: "file" | "folder";
  files: FileEntry[];
  digest: string;
}

const sha256 = () => createHash("sha256");

function hashFile(path: string): string {
  const hash = sha256();
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n = readSync(fd, buffer, 0, buffer.length, null); n > 0; n = readSync(fd, buffer, 0, buffer.length, null)) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Whether a folder entry counts towards the folder's digest (the same rule as digest.py). */
export function counts(name: string): boolean {
  return !name.startsWith(".") && !name.toLowerCase().endsWith(".md");
}

/** What transformers, tokenizers and peft read from a model or adapter folder (as digest.py). */
const MODEL_FILES = new Set([
  "config.json", "generation_config.json", "adapter_config.json", "osrm_task.json",
  "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
  "vocab.json", "vocab.txt", "merges.txt", "preprocessor_config.json", "chat_template.json",
  "chat_template.jinja",
]);
const MODEL_SUFFIXES = [".safetensors", ".safetensors.index.json", ".model", ".tiktoken"];

const isModelFolder = (folder: string) => ["config.json", "adapter_config.json"].some((n) => statSync(join(folder, n), { throwIfNoEntry: false })?.isFile());
const countsInModel = (name: string) => MODEL_FILES.has(name) || MODEL_SUFFIXES.some((s) => name.endsWith(s));

/** Every counted file under `root`, as [relative path, absolute path], sorted by relative path. */
function listFiles(root: string): [string, string][] {
  const out: [string, string][] = [];
  const model = isModelFolder(root);
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      if (!counts(name)) continue;
      const path = join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      const stat = statSync(path, { throwIfNoEntry: false }); // follows links (hub cache snapshots link to blobs); a broken link is skipped
      if (!stat) continue;
      if (stat.isDirectory()) walk(path, relPath);
      else if (stat.isFile() && (!model || countsInModel(name))) out.push([relPath, path]);
    }
  };
  walk(root, "");
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function stamp(path: string): [number, string] {
  const stat = statSync(path, { bigint: true });
  return [Number(stat.size), stat.mtimeNs.toString()];
}

function cacheFile(path: string): string {
  return join(cacheDir(), "digests", `${createHash("sha256").update(path).digest("hex").slice(0, 32)}.json`);
}

function readCache(path: string): CacheEntry | null {
  try {
    const entry = JSON.parse(readFileSync(cacheFile(path), "utf8")) as CacheEntry;
    return entry.version === DIGEST_CACHE_VERSION && entry.path === path ? entry : null;
  } catch {
    return null; // absent or unreadable: computed again
  }
}

function writeCache(entry: CacheEntry): void {
  try {
    writeFileAtomic(cacheFile(entry.path), JSON.stringify(entry) + "\n");
  } catch {
    // a read-only cache only costs speed
  }
}

function compute(path: string, kind: "file" | "folder"): string {
  const cached = readCache(path);
  const known = new Map((cached?.kind === kind ? cached.files : []).map((f) => [f[0], f]));
  const listing: [string, string][] = kind === "file" ? [["", path]] : listFiles(path);
  let unchanged = cached?.kind === kind && cached.files.length === listing.length;
  const files: FileEntry[] = listing.map(([rel, abs]) => {
    const [size, mtime] = stamp(abs);
    const old = known.get(rel);
    if (old && old[1] === size && old[2] === mtime) return old;
    unchanged = false;
    return [rel, size, mtime, hashFile(abs)];
  });
  if (unchanged && cached) return cached.digest;
  const digest =
    kind === "file"
      ? `sha256:${files[0]![3]}`
      : `sha256:${files.reduce((hash, [rel, , , sha]) => hash.update(`${rel}\0${sha}\n`), sha256()).digest("hex")}`;
  writeCache({ version: DIGEST_CACHE_VERSION, path, kind, files, digest });
  return digest;
}

/**
 * The content digest of a file or a folder (cached; see the module comment). Each call checks
 * the files' sizes and times, so a file changed since the last call is read again.
 */
export function contentDigest(target: string): string {
  const path = resolve(target);
  if (!existsSync(path)) throw new Error(`cannot take the digest of ${path}: it does not exist`);
  return compute(path, statSync(path).isDirectory() ? "folder" : "file");
}
