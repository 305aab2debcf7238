/*
 * The Hive Metastore 2.3 service (the jars inside pyspark) listening on one address only.
 *
 *     java -cp <hive-site folder>:<this class>:<pyspark jars>/* spotingest.stack.BoundMetaStore \
 *         --host 127.0.0.1 --port 9083
 *
 * Hive 2.3's own HiveMetaStore binds its Thrift socket to the wildcard address (0.0.0.0): it
 * has no bind-host setting (Hive 4 has metastore.thrift.bind.host, but Hive 4's metastore no
 * longer answers get_table, which Spark's built-in 2.3 client and hmsclient call). This class
 * serves the very same handler (HMSHandler behind RetryingHMSHandler, the processors, the
 * transport, the limits and thread counts HiveMetaStore.startMetaStore derives from
 * hive-site.xml) on a server socket bound to the address given: 127.0.0.1 for the local
 * stack, a host's own address on a cluster. Only the plain transport is served: SASL, SSL,
 * framed transport and the compact protocol are refused at start with one line.
 */
package spotingest.stack;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;

import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.conf.HiveConf.ConfVars;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.HiveMetaStore.HMSHandler;
import org.apache.hadoop.hive.metastore.IHMSHandler;
import org.apache.hadoop.hive.metastore.TServerSocketKeepAlive;
import org.apache.hadoop.hive.metastore.TSetIpAddressProcessor;
import org.apache.hadoop.hive.metastore.TUGIBasedProcessor;
import org.apache.hadoop.hive.thrift.TUGIContainingTransport;
import org.apache.thrift.TProcessor;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.protocol.TProtocol;
import org.apache.thrift.server.ServerContext;
import org.apache.thrift.server.TServer;
import org.apache.thrift.server.TServerEventHandler;
import org.apache.thrift.server.TThreadPoolServer;
import org.apache.thrift.transport.TServerSocket;
import org.apache.thrift.transport.TServerTransport;
import org.apache.thrift.transport.TTransport;
import org.apache.thrift.transport.TTransportFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public final class BoundMetaStore {
  private static final Logger LOG = LoggerFactory.getLogger(BoundMetaStore.class);

  private BoundMetaStore() {}

  public static void main(String[] args) throws Throwable {
    String host = null;
    int port = 9083;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if ((arg.equals("--host") || arg.equals("--port") || arg.equals("-p")) && i + 1 < args.length) {
        String value = args[++i];
        if (arg.equals("--host")) {
          host = value;
        } else {
          port = Integer.parseInt(value);
        }
      } else {
        usage("unknown argument " + arg);
      }
    }
    if (host == null || host.isEmpty()) {
      usage("--host is required (the address to listen on, e.g. 127.0.0.1)");
    }
    HiveConf.setLoadMetastoreConfig(true);
    HiveConf conf = new HiveConf(HMSHandler.class);
    refuse(conf, ConfVars.METASTORE_USE_THRIFT_SASL);
    refuse(conf, ConfVars.HIVE_METASTORE_USE_SSL);
    refuse(conf, ConfVars.METASTORE_USE_THRIFT_FRAMED_TRANSPORT);
    refuse(conf, ConfVars.METASTORE_USE_THRIFT_COMPACT_PROTOCOL);

    InetSocketAddress address = new InetSocketAddress(host, port);
    if (address.isUnresolved()) {
      usage("cannot resolve --host " + host);
    }
    TServer server = server(conf, address);
    Runtime.getRuntime().addShutdownHook(new Thread(server::stop, "metastore-stop"));
    LOG.warn("Hive Metastore listening on {}:{}", address.getAddress().getHostAddress(), port);
    server.serve();
  }

  /** What HiveMetaStore.startMetaStore builds for the plain transport, on this address. */
  static TServer server(HiveConf conf, InetSocketAddress address) throws Throwable {
    markRemote();
    long maxMessageSize = conf.getLongVar(ConfVars.METASTORESERVERMAXMESSAGESIZE);
    IHMSHandler handler = HiveMetaStore.newRetryingHMSHandler(
        new HMSHandler("new db based metaserver", conf, false), conf);
    TProcessor processor;
    TTransportFactory transports;
    if (conf.getBoolVar(ConfVars.METASTORE_EXECUTE_SET_UGI)) {
      transports = new TUGIContainingTransport.Factory();
      processor = new TUGIBasedProcessor<>(handler);
    } else {
      transports = new TTransportFactory();
      processor = new TSetIpAddressProcessor<>(handler);
    }
    TServerSocket socket = new TServerSocket(address);
    TServerTransport transport =
        conf.getBoolVar(ConfVars.METASTORE_TCP_KEEP_ALIVE) ? new TServerSocketKeepAlive(socket) : socket;
    TThreadPoolServer.Args serverArgs = new TThreadPoolServer.Args(transport)
        .processor(processor)
        .transportFactory(transports)
        .protocolFactory(new TBinaryProtocol.Factory())
        .inputProtocolFactory(new TBinaryProtocol.Factory(true, true, maxMessageSize, maxMessageSize))
        .minWorkerThreads(conf.getIntVar(ConfVars.METASTORESERVERMINTHREADS))
        .maxWorkerThreads(conf.getIntVar(ConfVars.METASTORESERVERMAXTHREADS));
    TServer server = new TThreadPoolServer(serverArgs);
    server.setServerEventHandler(new ReleaseRawStore());
    return server;
  }

  /** As startMetaStore does: the handler then takes client addresses from the connection. */
  private static void markRemote() throws ReflectiveOperationException {
    Field remote = HiveMetaStore.class.getDeclaredField("isMetaStoreRemote");
    remote.setAccessible(true);
    remote.setBoolean(null, true);
  }

  /** A closed connection gives back its thread's RawStore (database connection, JDO state),
   *  as HiveMetaStore's own event handler does. */
  private static final class ReleaseRawStore implements TServerEventHandler {
    private final Method cleanup;

    ReleaseRawStore() throws ReflectiveOperationException {
      cleanup = HiveMetaStore.class.getDeclaredMethod("cleanupRawStore");
      cleanup.setAccessible(true);
    }

    @Override
    public void preServe() {}

    @Override
    public ServerContext createContext(TProtocol input, TProtocol output) {
      return null;
    }

    @Override
    public void deleteContext(ServerContext context, TProtocol input, TProtocol output) {
      try {
        cleanup.invoke(null);
      } catch (ReflectiveOperationException e) {
        LOG.warn("could not release a connection's RawStore", e);
      }
    }

    @Override
    public void processContext(ServerContext context, TTransport input, TTransport output) {}
  }

  private static void refuse(HiveConf conf, ConfVars setting) {
    if (conf.getBoolVar(setting)) {
      usage(setting.varname + " is set: only the plain Thrift transport is served here");
    }
  }

  private static void usage(String message) {
    System.err.println("BoundMetaStore: " + message);
    System.exit(2);
  }
}
