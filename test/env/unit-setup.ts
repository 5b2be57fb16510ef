// Runs before every file of the unit project. When jest runs both projects, the integration project's global setup
// has put the control plane's address in the environment the workers inherit; unit tests must not see it, so that a
// unit test that needs the control plane fails in `npm test` as it does in `npm run test:unit`.
for (const k of Object.keys(process.env)) if (k.startsWith('JSO_TEST_')) delete process.env[k];
