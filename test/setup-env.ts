/**
 * Every Python runtime a test starts registers the test-only ops (boundary tests and fixtures in
 * python/osrm_runtime/testing), which production runtimes never offer.
 */
process.env.OSRM_TESTING_OPS = "1";
