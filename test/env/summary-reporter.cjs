// Prints one plain closing line, "tests: N passed, N failed, N skipped", after jest's own report.
class SummaryReporter {
  onRunComplete(_contexts, r) {
    const failedSuites = r.numFailedTestSuites + r.numRuntimeErrorTestSuites;
    const failed = r.numFailedTests + (failedSuites > 0 && r.numFailedTests === 0 ? failedSuites : 0);
    process.stdout.write(`\ntests: ${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests + r.numTodoTests} skipped\n`);
  }
}
module.exports = SummaryReporter;
