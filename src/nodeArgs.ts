/**
 * The V8 options flow-proxy runs with: `npm start`, the image's CMD, and the
 * tests and benchmarks that start it (test/unit/nodeArgs.test.ts checks the
 * first two carry them), chosen so that the control plane of 10,000
 * services stays under 200 MB RSS under churn (docs/benchmarks.md, issue 17):
 *  - young-generation semi-spaces of 2 MB instead of 16: a change allocates
 *    little, so the extra scavenges cost nothing measurable;
 *  - the old generation grows by 20% before the next full collection instead
 *    of V8's default (up to 4x): a reload at 10,000 services leaves tens of
 *    megabytes of garbage, which V8 otherwise lets pile up to 300-400 MB;
 *  - V8 sized for memory over speed: under an hour of churn at 10,000
 *    services its committed heap otherwise kept growing (+27 MB/h of RSS,
 *    194 MB at most); with it +6 MB/h and 171 MB at most, for about 7% fewer
 *    changes a second (docs/benchmarks.md §13, session of 2026-12-03).
 */
export const NODE_ARGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=20', '--optimize-for-size'];
