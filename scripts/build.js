#!/usr/bin/env node
// `npm run build` (run by `prepack`): src/ compiled to dist/ for the published package, which has
// no tsx. A clone never needs it (bin/osrm.js runs src/ through tsx there). Data files that
// modules read next to themselves at run time (src/ops/merge-methods.json) are copied alongside.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");
// Built beside dist and renamed into place: an interrupted build never leaves a half-built dist.
const staging = mkdtempSync(join(root, ".dist-"));
try {
  // typescript exports no bin path; its package.json locates it.
  const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", staging], { stdio: "inherit", cwd: root });
  const copyData = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) copyData(path);
      else if (name.endsWith(".json")) cpSync(path, join(staging, relative(src, path)));
    }
  };
  copyData(src);
  rmSync(dist, { recursive: true, force: true });
  renameSync(staging, dist);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
console.log(`built ${relative(process.cwd(), dist) || "."}`);
