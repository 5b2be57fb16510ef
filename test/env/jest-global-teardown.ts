export default async function teardown(): Promise<void> {
  await globalThis.__JSO_CONTROL_PLANE__?.stop();
}
