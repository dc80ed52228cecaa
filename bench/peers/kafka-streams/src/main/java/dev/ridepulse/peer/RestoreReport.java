package dev.ridepulse.peer;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.processor.StateRestoreListener;

/** Reports every changelog restore as status lines: where it starts and ends, how many records, how long. */
final class RestoreReport implements StateRestoreListener {
  private final Map<TopicPartition, Long> startedAt = new ConcurrentHashMap<>();

  @Override
  public void onRestoreStart(TopicPartition tp, String store, long startOffset, long endOffset) {
    startedAt.put(tp, System.currentTimeMillis());
    JsonLines.emit("restore-start", "store", store, "topic", tp.topic(), "partition", tp.partition(), "startOffset", startOffset, "endOffset", endOffset);
  }

  @Override
  public void onBatchRestored(TopicPartition tp, String store, long batchEndOffset, long records) {
    // Per batch is too often for a status line; the end reports the total.
  }

  @Override
  public void onRestoreEnd(TopicPartition tp, String store, long records) {
    JsonLines.emit("restore-end", "store", store, "topic", tp.topic(), "partition", tp.partition(), "records", records, "ms", elapsed(tp));
  }

  @Override
  public void onRestoreSuspended(TopicPartition tp, String store, long records) {
    JsonLines.emit("restore-suspended", "store", store, "topic", tp.topic(), "partition", tp.partition(), "records", records, "ms", elapsed(tp));
  }

  private long elapsed(TopicPartition tp) {
    Long t0 = startedAt.remove(tp);
    return t0 == null ? -1 : System.currentTimeMillis() - t0;
  }
}
