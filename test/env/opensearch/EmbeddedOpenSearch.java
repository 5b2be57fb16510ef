import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.appender.ConsoleAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilder;
import org.apache.logging.log4j.core.config.builder.api.ConfigurationBuilderFactory;
import org.apache.logging.log4j.core.config.builder.impl.BuiltConfiguration;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch server in one JVM, with the HTTP/transport (netty4), painless and analysis-common modules
 * loaded from the classpath. Listens on 127.0.0.1 only.
 *
 * Settings, in increasing precedence:
 *   system properties  opensearch.http.port (default 9200), opensearch.path.home, opensearch.path.data,
 *                      opensearch.cluster.name (default "jso-test"), opensearch.log.level (default WARN)
 *   arguments          key=value (or -Ekey=value) for any node setting, e.g. http.port=9201 path.data=/tmp/d
 *
 * Prints "OPENSEARCH READY http://127.0.0.1:PORT" on stdout once HTTP is accepting requests. SIGTERM/SIGINT close the
 * node (flushing shards) before the JVM exits. When the environment names a parent process (JSO_PARENT_PID), the node
 * also closes and the JVM exits once that process is gone, so that a crashed or killed parent leaves no server behind.
 */
public final class EmbeddedOpenSearch {
    private static final List<Class<? extends Plugin>> PLUGINS = Arrays.asList(
        Netty4Plugin.class,
        PainlessPlugin.class,
        CommonAnalysisPlugin.class
    );

    /** Node's plugin-taking constructor is protected; this subclass exposes it. */
    private static final class ClasspathNode extends Node {
        ClasspathNode(Settings settings, Collection<Class<? extends Plugin>> plugins) {
            super(InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), null, () -> "jso-node"), plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        ParentWatch.start("EmbeddedOpenSearch", 30_000);
        configureLogging(Level.toLevel(System.getProperty("opensearch.log.level", "WARN"), Level.WARN));

        Settings.Builder given = Settings.builder();
        for (String a : args) {
            String kv = a.startsWith("-E") ? a.substring(2) : a;
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                System.err.println("EmbeddedOpenSearch: expected key=value, got: " + a);
                System.exit(2);
            }
            given.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        String homeSetting = given.get("path.home") != null ? given.get("path.home") : System.getProperty("opensearch.path.home");
        Path home = homeSetting != null ? Paths.get(homeSetting) : Files.createTempDirectory("opensearch-home");
        Files.createDirectories(home);
        Settings settings = Settings.builder()
            .put("cluster.name", System.getProperty("opensearch.cluster.name", "jso-test"))
            .put("node.name", "jso-node")
            .put("path.home", home.toString())
            .put("path.data", System.getProperty("opensearch.path.data", home.resolve("data").toString()))
            .put("path.logs", home.resolve("logs").toString())
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", System.getProperty("opensearch.http.port", "9200"))
            .put("transport.port", "0")
            .put("transport.type", "netty4")
            .put("http.type", "netty4")
            // a test node on a nearly full disk must still accept writes
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("bootstrap.memory_lock", false)
            .put(given.build())
            .build();

        final Node node;
        try {
            node = new ClasspathNode(settings, PLUGINS);
            node.start();
        } catch (Throwable t) {
            System.err.println("EmbeddedOpenSearch: failed to start: " + t);
            t.printStackTrace();
            System.out.flush();
            Runtime.getRuntime().halt(1);
            return;
        }

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (IOException | InterruptedException e) {
                System.err.println("EmbeddedOpenSearch: error while closing: " + e);
            } finally {
                closed.countDown();
            }
        }, "opensearch-shutdown"));

        TransportAddress http = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        System.out.println("OPENSEARCH READY http://127.0.0.1:" + http.getPort());
        System.out.flush();
        closed.await();
    }


    /** log4j2 to stderr at the given level; the node's own loggers inherit it. */
    private static void configureLogging(Level level) {
        ConfigurationBuilder<BuiltConfiguration> cb = ConfigurationBuilderFactory.newConfigurationBuilder();
        cb.setStatusLevel(Level.ERROR);
        cb.add(cb.newAppender("stderr", "Console")
            .addAttribute("target", ConsoleAppender.Target.SYSTEM_ERR)
            .add(cb.newLayout("PatternLayout").addAttribute("pattern", "[%d{HH:mm:ss,SSS}][%-5p][%c{1.}] %m%n")));
        cb.add(cb.newRootLogger(level).add(cb.newAppenderRef("stderr")));
        // warns at every start that dangling-index import is off, which is the intended setting here
        cb.add(cb.newLogger("org.opensearch.gateway.DanglingIndicesState", Level.ERROR));
        Configurator.initialize(cb.build());
    }
}
