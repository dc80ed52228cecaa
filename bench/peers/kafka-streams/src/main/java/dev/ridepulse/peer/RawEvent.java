package dev.ridepulse.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.text.Normalizer;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * OpA's validation of a raw `orders` record (contracts/src/event.ts,
 * parseRawEvent), written again for the Kafka Streams pipeline: the same
 * fields, the same normalization (zone, type aliases, seconds, milliseconds
 * or ISO-8601 times), the same refusal of an event time too far ahead of the
 * record's own timestamp. A valid record becomes its zone, its type's index
 * in Counts.TYPES and its event time; anything else a reason.
 */
record RawEvent(String zone, int type, long ts, String reason) {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final Map<String, Integer> TYPES = Map.ofEntries(
      Map.entry("requested", 0), Map.entry("request", 0),
      Map.entry("matched", 1), Map.entry("match", 1), Map.entry("assigned", 1),
      Map.entry("completed", 2), Map.entry("complete", 2), Map.entry("finished", 2),
      Map.entry("cancelled", 3), Map.entry("canceled", 3), Map.entry("cancel", 3));
  private static final Pattern MARKS = Pattern.compile("[\\u0300-\\u036f]");
  private static final Pattern SEPARATORS = Pattern.compile("(?U)[\\s_./]+");
  private static final Pattern DASHES = Pattern.compile("-+");
  private static final Pattern EDGE_DASH = Pattern.compile("^-|-$");
  private static final Pattern ZONE = Pattern.compile("^[a-z0-9][a-z0-9-]{0,63}$");
  private static final Pattern NUMERIC = Pattern.compile("^-?\\d+(\\.\\d+)?$");
  private static final double SECONDS_LIMIT = 1e11;
  private static final long MIN_TS_MS = Instant.parse("2000-01-01T00:00:00Z").toEpochMilli();
  private static final long MAX_TS_MS = Instant.parse("2100-01-01T00:00:00Z").toEpochMilli();

  boolean valid() {
    return reason == null;
  }

  private static RawEvent refused(String reason) {
    return new RawEvent(null, -1, 0, reason);
  }

  /** The record's value and its timestamp (when it reached Kafka). */
  static RawEvent parse(byte[] value, long ingestMs, long maxFutureSkewMs) {
    if (value == null || value.length == 0) return refused("malformed: empty record");
    JsonNode j;
    try {
      j = MAPPER.readTree(value);
    } catch (IOException e) {
      return refused("malformed: invalid JSON");
    }
    if (j == null || !j.isObject()) return refused("malformed: event must be a JSON object");
    if (id(j.get("eventId")) == null) return refused("malformed: eventId");
    if (id(j.get("rideId")) == null) return refused("malformed: rideId");
    JsonNode z = j.get("zone");
    String zone = z != null && z.isTextual() && z.textValue().length() <= 128 ? normalizeZone(z.textValue()) : null;
    if (zone == null || !ZONE.matcher(zone).matches()) return refused("malformed: zone");
    JsonNode t = j.get("type");
    Integer type = t != null && t.isTextual() ? TYPES.get(t.textValue().strip().toLowerCase(Locale.ROOT)) : null;
    if (type == null) return refused("malformed: type");
    Long ts = timestamp(j.get("ts"));
    if (ts == null) return refused("malformed: ts");
    if (ts - ingestMs > maxFutureSkewMs) return refused("future-event-time: ts is " + (ts - ingestMs) + " ms after the record's ingest time");
    return new RawEvent(zone, type, ts, null);
  }

  /** A non-empty string of at most 128 characters (trimmed), or a non-negative integer. */
  private static String id(JsonNode v) {
    if (v == null) return null;
    if (v.isTextual()) {
      String s = v.textValue().strip();
      return s.length() >= 1 && s.length() <= 128 ? s : null;
    }
    if (v.isNumber() && v.canConvertToExactIntegral() && v.asDouble() >= 0) return v.asText();
    return null;
  }

  static String normalizeZone(String raw) {
    String s = MARKS.matcher(Normalizer.normalize(raw, Normalizer.Form.NFKD)).replaceAll("").strip().toLowerCase(Locale.ROOT);
    s = DASHES.matcher(SEPARATORS.matcher(s).replaceAll("-")).replaceAll("-");
    return EDGE_DASH.matcher(s).replaceAll("");
  }

  /** Epoch seconds or milliseconds (a number, or digits in a string) or an ISO-8601 time, between 2000 and 2100. */
  static Long timestamp(JsonNode v) {
    Double ms = null;
    if (v != null && v.isNumber()) {
      double d = v.asDouble();
      ms = d < SECONDS_LIMIT ? d * 1000 : d;
    } else if (v != null && v.isTextual() && !v.textValue().isBlank()) {
      String s = v.textValue().strip();
      if (NUMERIC.matcher(s).matches()) {
        double d = Double.parseDouble(s);
        ms = d < SECONDS_LIMIT ? d * 1000 : d;
      } else {
        Long parsed = isoTime(s);
        ms = parsed == null ? null : parsed.doubleValue();
      }
    }
    if (ms == null || ms.isNaN() || ms.isInfinite()) return null;
    long floor = (long) Math.floor(ms);
    return floor >= MIN_TS_MS && floor < MAX_TS_MS ? floor : null;
  }

  private static Long isoTime(String s) {
    try {
      return OffsetDateTime.parse(s).toInstant().toEpochMilli();
    } catch (DateTimeParseException e) {
      // not with an offset
    }
    try {
      return LocalDateTime.parse(s).toInstant(ZoneOffset.UTC).toEpochMilli();
    } catch (DateTimeParseException e) {
      // not a local date and time
    }
    try {
      return LocalDate.parse(s).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
    } catch (DateTimeParseException e) {
      return null;
    }
  }
}
