package dev.ridepulse.peer;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * The whole pipeline as one Kafka Streams application: raw `orders` records
 * in (keyed by ride), OpA's validation (RawEvent), refused records to the
 * dead-letter topic with their reason in a header, valid ones re-keyed by
 * zone and stamped with their event time through a repartition topic of
 * `shards` partitions (OpA's topic between the two stages), counted per zone
 * and window as OpB counts them.
 */
final class WholePipeline {
  static final String REASON_HEADER = "ridepulse-reason";

  private WholePipeline() {}

  static Topology topology(String input, String output, String deadLetters, int shards, long maxFutureSkewMs, Duration size, Duration grace, Duration retention) {
    StreamsBuilder builder = new StreamsBuilder();
    Map<String, KStream<String, Parsed>> parsed = builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(() -> new Validate(maxFutureSkewMs), Named.as("validate"))
        .split(Named.as("raw-"))
        .branch((key, p) -> p.event().valid(), Branched.as("valid"))
        .defaultBranch(Branched.as("refused"));
    parsed.get("raw-refused")
        .mapValues(Parsed::raw)
        .to(deadLetters, Produced.with(Serdes.String(), Serdes.ByteArray()));
    KStream<String, Integer> types = parsed.get("raw-valid")
        .mapValues(p -> p.event().type())
        .repartition(Repartitioned.<String, Integer>as("by-zone").withKeySerde(Serdes.String()).withValueSerde(Serdes.Integer()).withNumberOfPartitions(shards));
    DispatchBoard.countByZoneAndMinute(types, output, size, grace, retention);
    return builder.build();
  }

  /** A raw record and what the validation made of it. */
  record Parsed(RawEvent event, byte[] raw) {}

  /** Valid: keyed by zone, stamped with the event time. Refused: as it came, with the reason in a header. */
  static final class Validate implements Processor<String, byte[], String, Parsed> {
    private final long maxFutureSkewMs;
    private ProcessorContext<String, Parsed> context;

    Validate(long maxFutureSkewMs) {
      this.maxFutureSkewMs = maxFutureSkewMs;
    }

    @Override
    public void init(ProcessorContext<String, Parsed> context) {
      this.context = context;
    }

    @Override
    public void process(Record<String, byte[]> r) {
      RawEvent e = RawEvent.parse(r.value(), r.timestamp(), maxFutureSkewMs);
      if (e.valid()) {
        context.forward(r.withKey(e.zone()).withValue(new Parsed(e, null)).withTimestamp(e.ts()));
      } else {
        r.headers().add(REASON_HEADER, e.reason().getBytes(StandardCharsets.UTF_8));
        context.forward(r.withValue(new Parsed(e, r.value())));
      }
    }
  }
}
