/**
 * `npm run contract` (after the merge-method registry file is regenerated from Python): writes the
 * generated contract files, or with --check exits 1 naming each file that is stale.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../runtime/paths.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { contractDocument, opsReferenceText, pythonPayloadsText, schemaFileText } from "./contract-files.ts";
import { OPS } from "./index.ts";

export const CONTRACT_FILES = {
  schema: join("python", "osrm_runtime", "contract", "schema.json"),
  payloads: join("python", "osrm_runtime", "contract", "payloads.py"),
  reference: join("docs", "ops-reference.md"),
} as const;

export function generatedContract(): Record<keyof typeof CONTRACT_FILES, string> {
  const doc = contractDocument(OPS);
  return { schema: schemaFileText(doc), payloads: pythonPayloadsText(doc), reference: opsReferenceText(doc, OPS) };
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const texts = generatedContract();
  const check = process.argv.includes("--check");
  const stale: string[] = [];
  for (const [key, rel] of Object.entries(CONTRACT_FILES) as [keyof typeof CONTRACT_FILES, string][]) {
    const path = join(packageRoot, rel);
    if (read(path) === texts[key]) continue;
    if (check) stale.push(rel);
    else {
      writeFileAtomic(path, texts[key]);
      console.log(`wrote ${rel}`);
    }
  }
  if (stale.length) {
    console.error(`stale generated contract files (run npm run contract): ${stale.join(", ")}`);
    process.exit(1);
  }
}
