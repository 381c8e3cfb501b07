/**
 * The one bridge runtime all integration tests share (vitest runs the files in one worker without
 * isolation, so this module is evaluated once). Never close it in a test file: the next file
 * would start a second Python and pay torch's import again.
 */
import { BridgeRuntime } from "../src/runtime/bridge.ts";

let shared: BridgeRuntime | undefined;

export function sharedRuntime(): BridgeRuntime {
  shared ??= new BridgeRuntime();
  return shared;
}
