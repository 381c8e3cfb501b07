/**
 * Finds the line of a key path in a parsed YAML document, so an error points at the line the
 * user wrote. A path that is not in the file (a missing key) points at its nearest parent.
 */
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from "yaml";
import type { KeyPath } from "./errors.ts";

export interface Located {
  line: number;
  /** false when the path itself is not in the file and the line is its parent's. */
  exact: boolean;
}

function startOf(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}

export function locate(doc: Document, lines: LineCounter, path: KeyPath): Located | undefined {
  let node: unknown = doc.contents;
  let offset = startOf(node);
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) return offset === undefined ? undefined : { line: lines.linePos(offset).line, exact: false };
      // The key's own line: where the user reads "rank: x", not where a nested block starts.
      offset = startOf(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === "number" && segment < node.items.length) {
      node = node.items[segment];
      offset = startOf(node) ?? offset;
    } else {
      return offset === undefined ? undefined : { line: lines.linePos(offset).line, exact: false };
    }
  }
  return offset === undefined ? undefined : { line: lines.linePos(offset).line, exact: true };
}
