package dev.ridepulse.peer;

import java.nio.ByteBuffer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** The four counts of one zone and window, as OpB keeps them. */
final class Counts {
  static final String[] TYPES = {"requested", "matched", "completed", "cancelled"};

  private final int[] n;

  Counts() {
    this(new int[TYPES.length]);
  }

  private Counts(int[] n) {
    this.n = n;
  }

  /** Index of a ride event type in TYPES, or -1 for anything else. */
  static int typeIndex(String type) {
    if (type == null) return -1;
    for (int i = 0; i < TYPES.length; i++) if (TYPES[i].equals(type)) return i;
    return -1;
  }

  /** The aggregate is deserialized afresh for every record, so changing it in place is safe. */
  Counts add(int typeIndex) {
    n[typeIndex]++;
    return this;
  }

  /** The output value: the four counts as a JSON object. */
  String toJson() {
    StringBuilder b = new StringBuilder(80).append('{');
    for (int i = 0; i < TYPES.length; i++) {
      if (i > 0) b.append(',');
      b.append('"').append(TYPES[i]).append("\":").append(n[i]);
    }
    return b.append('}').toString();
  }

  /** Stored as four big-endian ints: 16 bytes a window in RocksDB and in the changelog. */
  static Serde<Counts> serde() {
    Serializer<Counts> ser = (topic, c) -> {
      if (c == null) return null;
      ByteBuffer buf = ByteBuffer.allocate(4 * TYPES.length);
      for (int v : c.n) buf.putInt(v);
      return buf.array();
    };
    Deserializer<Counts> de = (topic, bytes) -> {
      if (bytes == null) return null;
      ByteBuffer buf = ByteBuffer.wrap(bytes);
      int[] n = new int[TYPES.length];
      for (int i = 0; i < n.length; i++) n[i] = buf.getInt();
      return new Counts(n);
    };
    return Serdes.serdeFrom(ser, de);
  }
}
