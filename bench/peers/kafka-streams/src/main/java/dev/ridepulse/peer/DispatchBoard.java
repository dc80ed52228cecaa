package dev.ridepulse.peer;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TaskMetadata;
import org.apache.kafka.streams.ThreadMetadata;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.WindowStore;

/**
 * OpB's job written as an ordinary Kafka Streams application: enriched ride
 * events keyed by zone in, counts per zone and event-time minute out, keyed
 * `zone|windowStart`, exactly-once. Configured from the environment (see
 * README.md); status goes to stdout as JSON lines.
 */
public final class DispatchBoard {
  /** An `orders.enriched` value as OpA writes it; fields other than these are ignored, as OpB ignores them. */
  record RideEvent(String eventId, String rideId, String zone, String type, long ts, long ingestMs) {}

  private static final ObjectMapper MAPPER = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
  private static final AtomicLong SKIPPED = new AtomicLong();

  private DispatchBoard() {}

  public static void main(String[] args) throws InterruptedException {
    JsonLines.emit("start", "jvmStartedAt", ManagementFactory.getRuntimeMXBean().getStartTime());
    Map<String, String> env = System.getenv();
    String input = required(env, "INPUT_TOPIC");
    String output = required(env, "OUTPUT_TOPIC");
    Duration size = Duration.ofMillis(number(env, "WINDOW_SIZE_MS", 60_000));
    Duration grace = Duration.ofMillis(number(env, "GRACE_MS", 15_000));
    Duration retention = Duration.ofMillis(number(env, "RETENTION_MS", Duration.ofDays(7).toMillis()));

    // PIPELINE=whole: the whole pipeline (OpA's validation, then the counts) on raw events; else OpB's job on enriched ones.
    Topology topology = "whole".equals(env.getOrDefault("PIPELINE", "opb"))
        ? WholePipeline.topology(input, output, required(env, "DEAD_LETTER_TOPIC"), (int) number(env, "SHARDS", number(env, "STREAM_THREADS", 1)), number(env, "MAX_FUTURE_SKEW_MS", 60_000), size, grace, retention)
        : topology(input, output, size, grace, retention);
    KafkaStreams streams = new KafkaStreams(topology, properties(env));
    CountDownLatch done = new CountDownLatch(1);
    streams.setGlobalStateRestoreListener(new RestoreReport());
    streams.setStateListener((to, from) -> {
      JsonLines.emit("state", "from", from.name(), "to", to.name());
      if (to == KafkaStreams.State.NOT_RUNNING || to == KafkaStreams.State.ERROR) done.countDown();
    });
    streams.setUncaughtExceptionHandler(err -> {
      JsonLines.emit("error", "message", String.valueOf(err));
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      JsonLines.emit("stopped", "skipped", SKIPPED.get());
    }));
    streams.start();
    Thread tasks = new Thread(() -> reportTasks(streams), "task-report");
    tasks.setDaemon(true);
    tasks.start();
    done.await();
    // NOT_RUNNING: the shutdown hook is closing it. ERROR: a stream thread died.
    if (streams.state() == KafkaStreams.State.ERROR) System.exit(1);
  }

  /** A `tasks` line whenever the tasks this instance runs, active or standby, change (polled every 20 ms). */
  private static void reportTasks(KafkaStreams streams) {
    String last = "";
    while (true) {
      try {
        List<String> active = new ArrayList<>();
        List<String> standby = new ArrayList<>();
        for (ThreadMetadata t : streams.metadataForLocalThreads()) {
          for (TaskMetadata task : t.activeTasks()) active.add(task.taskId().toString());
          for (TaskMetadata task : t.standbyTasks()) standby.add(task.taskId().toString());
        }
        Collections.sort(active);
        Collections.sort(standby);
        String now = active + "/" + standby;
        if (!now.equals(last)) {
          JsonLines.emit("tasks", "active", active, "standby", standby);
          last = now;
        }
        Thread.sleep(20);
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        // Not started yet, or closing: nothing to report.
        try {
          Thread.sleep(20);
        } catch (InterruptedException stop) {
          return;
        }
      }
    }
  }

  static Topology topology(String input, String output, Duration size, Duration grace, Duration retention) {
    StreamsBuilder builder = new StreamsBuilder();
    KStream<String, Integer> types = builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        // The key stays the zone, so grouping needs no repartition topic.
        .mapValues(DispatchBoard::typeOf)
        .filter((zone, type) -> type != null);
    countByZoneAndMinute(types, output, size, grace, retention);
    return builder.build();
  }

  /** Ride event types keyed by zone, stamped with their event time, counted per zone and window into `output`. */
  static void countByZoneAndMinute(KStream<String, Integer> types, String output, Duration size, Duration grace, Duration retention) {
    types
        .groupByKey(Grouped.with(Serdes.String(), Serdes.Integer()))
        .windowedBy(TimeWindows.ofSizeAndGrace(size, grace))
        .aggregate(
            Counts::new,
            (zone, type, counts) -> counts.add(type),
            Materialized.<String, Counts, WindowStore<Bytes, byte[]>>as("zone-minute-counts")
                .withKeySerde(Serdes.String())
                .withValueSerde(Counts.serde())
                .withRetention(retention))
        .toStream()
        .map((window, counts) -> KeyValue.pair(window.key() + "|" + window.window().start(), counts.toJson()))
        .to(output, Produced.with(Serdes.String(), Serdes.String()));
  }

  /** The event's type index, or null (the record is skipped) when the value is not an enriched event. */
  static Integer typeOf(byte[] value) {
    int type = -1;
    if (value != null) {
      try {
        RideEvent e = MAPPER.readValue(value, RideEvent.class);
        if (e.zone() != null && e.eventId() != null) type = Counts.typeIndex(e.type());
      } catch (IOException e) {
        type = -1;
      }
    }
    if (type >= 0) return type;
    long n = SKIPPED.incrementAndGet();
    if (n == 1 || n % 10_000 == 0) JsonLines.emit("skipped", "records", n);
    return null;
  }

  static Properties properties(Map<String, String> env) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, required(env, "APPLICATION_ID"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, required(env, "BOOTSTRAP_SERVERS"));
    p.put(StreamsConfig.STATE_DIR_CONFIG, required(env, "STATE_DIR"));
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, (int) number(env, "STREAM_THREADS", 1));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, number(env, "COMMIT_INTERVAL_MS", 100));
    // The record cache turns the updates of a window within one commit into
    // one output record and one changelog record, as OpB's commit does.
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 10L * 1024 * 1024);
    // A standby replica of each task on another instance (0: none, as by default).
    p.put(StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG, (int) number(env, "STANDBY_REPLICAS", 0));
    // Static membership: a restarted instance takes its own place back in the
    // group, with its old assignment, instead of waiting for the dead
    // member's session to time out and for a rebalance.
    p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), required(env, "INSTANCE_ID"));
    int session = (int) number(env, "SESSION_TIMEOUT_MS", 30_000);
    p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), session);
    // A third of the session, at most 3 s, as the client's documentation advises.
    p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), Math.min(3_000, session / 3));
    // The changelog compacts as OpB's does (a segment a minute, cleaned once a
    // tenth is stale): a restore reads little more than the live keys.
    p.put(StreamsConfig.topicPrefix(TopicConfig.SEGMENT_MS_CONFIG), 60_000);
    p.put(StreamsConfig.topicPrefix(TopicConfig.MIN_CLEANABLE_DIRTY_RATIO_CONFIG), 0.1);
    // Restore: bigger polls and fetches than the defaults, as for OpB's replay (8 MiB fetches).
    p.put(StreamsConfig.restoreConsumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 10_000);
    p.put(StreamsConfig.restoreConsumerPrefix(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG), 8 * 1024 * 1024);
    p.put(StreamsConfig.restoreConsumerPrefix(ConsumerConfig.FETCH_MAX_BYTES_CONFIG), 64 * 1024 * 1024);
    return p;
  }

  static String required(Map<String, String> env, String name) {
    String v = env.get(name);
    if (v == null || v.isBlank()) throw new IllegalArgumentException("environment variable " + name + " is required");
    return v;
  }

  static long number(Map<String, String> env, String name, long fallback) {
    String v = env.get(name);
    if (v == null || v.isBlank()) return fallback;
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("environment variable " + name + " must be an integer, got " + v, e);
    }
  }
}
