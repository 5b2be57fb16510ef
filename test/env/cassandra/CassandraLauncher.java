/*
 * Starts Cassandra's own main (org.apache.cassandra.service.CassandraDaemon) in this JVM, after starting a watch on
 * the process that launched it: when the environment names a parent process (JSO_PARENT_PID), the JVM exits once that
 * process is gone, so that a crashed or killed test run (kill -9, no stop()) leaves no Cassandra behind. The exit runs
 * Cassandra's shutdown hook (drain); the JVM halts if that takes longer than 15 s.
 *
 * Usage: java <Cassandra's JVM options> -cp "cassandra-launcher.jar:lib/*" CassandraLauncher
 */
public final class CassandraLauncher {
    private CassandraLauncher() {}

    public static void main(String[] args) throws Exception {
        watchParent(System.getenv("JSO_PARENT_PID"));
        org.apache.cassandra.service.CassandraDaemon.main(args);
    }

    private static void watchParent(String pid) {
        if (pid == null || pid.isEmpty()) return;
        final java.util.Optional<ProcessHandle> parent = ProcessHandle.of(Long.parseLong(pid.trim()));
        Thread t = new Thread(() -> {
            try {
                while (parent.isPresent() && parent.get().isAlive()) Thread.sleep(500);
            } catch (InterruptedException e) {
                return;
            }
            System.err.println("CassandraLauncher: parent process " + pid + " is gone; shutting down");
            Thread halt = new Thread(() -> {
                try {
                    Thread.sleep(15_000);
                } catch (InterruptedException e) {
                    return;
                }
                Runtime.getRuntime().halt(1);
            }, "cassandra-halt");
            halt.setDaemon(true);
            halt.start();
            System.exit(0);
        }, "cassandra-parent-watch");
        t.setDaemon(true);
        t.start();
    }
}
