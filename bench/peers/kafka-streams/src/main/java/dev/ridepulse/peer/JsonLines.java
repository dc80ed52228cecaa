package dev.ridepulse.peer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the benchmark reads from this process: one JSON object per line on
 * stdout, each with an `event` name and the wall-clock time `at` (epoch ms).
 * Logs go to stderr, so stdout stays machine-readable.
 */
final class JsonLines {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private JsonLines() {}

  /** `fields` alternates names and values. */
  static void emit(String event, Object... fields) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("event", event);
    line.put("at", System.currentTimeMillis());
    for (int i = 0; i + 1 < fields.length; i += 2) line.put(String.valueOf(fields[i]), fields[i + 1]);
    String text;
    try {
      text = MAPPER.writeValueAsString(line);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write a status line", e);
    }
    // Restore callbacks and the state listener run on different threads: one line at a time.
    synchronized (System.out) {
      System.out.println(text);
      System.out.flush();
    }
  }
}
