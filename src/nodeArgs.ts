/**
 * The V8 options flow-proxy runs with: `npm start`, the image's CMD, and the
 * tests and benchmarks that start it (test/unit/nodeArgs.test.ts checks the
 * first two carry them). Young-generation semi-spaces of 2 MB instead of 16:
 * the control plane of 10,000 services stays under 200 MB RSS, and since a
 * change allocates little the extra scavenges cost nothing measurable
 * (docs/benchmarks.md, issue 17).
 */
export const NODE_ARGS: readonly string[] = ['--max-semi-space-size=2'];
