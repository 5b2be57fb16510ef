/*
 * For the test servers' Java launchers: when the environment names a parent process (JSO_PARENT_PID), the JVM exits
 * once that process is gone, so that a crashed or killed test run (kill -9, no stop()) leaves no server behind. The
 * exit runs the server's shutdown hooks; the JVM halts if they take longer than `haltAfterMs`.
 */
public final class ParentWatch {
    private ParentWatch() {}

    public static void start(String name, long haltAfterMs) {
        String pid = System.getenv("JSO_PARENT_PID");
        if (pid == null || pid.isEmpty()) return;
        final java.util.Optional<ProcessHandle> parent = ProcessHandle.of(Long.parseLong(pid.trim()));
        Thread t = new Thread(() -> {
            try {
                while (parent.isPresent() && parent.get().isAlive()) Thread.sleep(500);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println(name + ": parent process " + pid + " is gone; shutting down");
            Thread halt = new Thread(() -> {
                try {
                    Thread.sleep(haltAfterMs);
                } catch (InterruptedException e) {
                    return;
                }
                Runtime.getRuntime().halt(1);
            }, name + "-halt");
            halt.setDaemon(true);
            halt.start();
            System.exit(0);
        }, name + "-parent-watch");
        t.setDaemon(true);
        t.start();
    }
}
