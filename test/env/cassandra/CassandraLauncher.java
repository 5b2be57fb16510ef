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
        ParentWatch.start("CassandraLauncher", 15_000);
        org.apache.cassandra.service.CassandraDaemon.main(args);
    }

}
