#!/usr/bin/env node
// The osrm command (also installed as osrm-merge).
//
// In a clone (src/ is here) the TypeScript runs directly through tsx, so no build step is needed
// and an old dist/ left by `npm pack` can never shadow edited sources. The published package
// ships no src/, only dist/ (compiled by `npm run build` at pack time), and needs no tsx.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src", "cli.ts");
const compiled = join(root, "dist", "cli.js");

if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(source).href);
} else if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  process.stderr.write(`osrm: neither ${source} nor ${compiled} exists; this installation is incomplete (reinstall the package)\n`);
  process.exit(1);
}
