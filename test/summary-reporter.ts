/**
 * Prints one plain closing line, `tests: N passed, N failed`, after vitest's own summary, so
 * CI logs carry a runner-neutral count that tools can read.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
    }
    // A module that failed to load has no failed test of its own: count it once.
    const brokenModules = testModules.filter(
      (m) =>
        m.state() === 'failed' &&
        ![...m.children.allTests()].some((t) => t.result().state === 'failed'),
    ).length;
    process.stdout.write(
      `\ntests: ${passed} passed, ${failed + brokenModules} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
    );
  }
}
