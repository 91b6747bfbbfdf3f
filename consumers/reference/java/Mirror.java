// A downstream system's own copy of lethe's customers, in Java: the same
// program as consumers/reference/python/mirror.py, with kafka-clients,
// lazysodium (libsodium through JNA), Jackson and SQLite from Maven Central.
//
// It subscribes to the users and erasure topics, keeps one table,
// customers(user_id, email, name, role, active, version), in SQLite, and
// opens the sealed email and name with keys it fetches from `lethe serve`
// (POST /key-releases) as a service account entitled to the users topic.
// On user.erased (or a key that answers 410) it deletes the person's row and
// forgets their key. docs/sealed-format.md is all it knows of sealing.
//
//   java -cp '.lethe/java-mirror-libs/*' consumers/reference/java/Mirror.java \
//        --brokers 127.0.0.1:19092 --topic-prefix lethe. --api http://127.0.0.1:8080 \
//        --db customers.sqlite [--group mirror-java] [--until-idle 5]
//
// The service's API key comes from LETHE_SERVICE_TOKEN. Offsets are
// committed after the SQLite transaction that applied the messages; a row
// keeps the stream version it reflects, so a restart applies nothing twice.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.goterl.lazysodium.LazySodiumJava;
import com.goterl.lazysodium.SodiumJava;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

public class Mirror {
  static final ObjectMapper JSON = new ObjectMapper();

  /** The person is erased: lethe destroyed their key. */
  static final class Gone extends Exception {
    Gone(String person) {
      super(person);
    }
  }

  /** Keys fetched from lethe, by person and key version, in memory only. */
  static final class Keys {
    final HttpClient http = HttpClient.newHttpClient();
    final String api, token;
    final Map<String, byte[]> cache = new HashMap<>();

    Keys(String api, String token) {
      this.api = api.replaceAll("/+$", "");
      this.token = token;
    }

    byte[] key(String person, int kid) throws Exception {
      final String id = person + "\0" + kid;
      if (!cache.containsKey(id)) {
        final String body = JSON.writeValueAsString(Map.of("user_id", person, "topic", "users"));
        final HttpResponse<String> answer = http.send(
            HttpRequest.newBuilder(URI.create(api + "/key-releases"))
                .header("Authorization", "Bearer " + token)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
        if (answer.statusCode() == 410) throw new Gone(person);
        if (answer.statusCode() != 201)
          throw new IllegalStateException("key release for " + person + ": HTTP " + answer.statusCode() + " " + answer.body());
        final JsonNode released = JSON.readTree(answer.body());
        if (released.get("key_id").asInt() != kid)
          throw new IllegalStateException("lethe released key " + released.get("key_id") + " of " + person + ", the value names " + kid);
        cache.put(id, Base64.getDecoder().decode(released.get("key").asText()));
      }
      return cache.get(id);
    }

    void forget(String person) {
      cache.keySet().removeIf(k -> k.startsWith(person + "\0"));
    }
  }

  final LazySodiumJava sodium = new LazySodiumJava(new SodiumJava());
  final Keys keys;
  final Connection db;

  Mirror(Keys keys, Connection db) {
    this.keys = keys;
    this.db = db;
  }

  /** A payload member's clear text: as it is when not sealed, null when null. */
  String opened(String eventId, String field, JsonNode value) throws Exception {
    if (value == null || value.isNull()) return null;
    if (!value.isObject() || !"xchacha20poly1305".equals(value.path("sealed").asText()))
      return value.isTextual() ? value.asText() : value.toString();
    if (value.has("sub2")) throw new IllegalStateException(field + ": a two-person value; the users topic has none");
    final byte[] key = keys.key(value.get("sub").asText(), value.get("kid").asInt());
    final byte[] nonce = Base64.getDecoder().decode(value.get("n").asText());
    final byte[] box = Base64.getDecoder().decode(value.get("c").asText());
    final byte[] ad = (eventId + "\0" + field).getBytes(StandardCharsets.UTF_8);
    final byte[] plain = new byte[box.length - 16];
    final long[] plainLength = new long[1];
    if (!sodium.cryptoAeadXChaCha20Poly1305IetfDecrypt(plain, plainLength, null, box, box.length, ad, ad.length, nonce, key))
      throw new IllegalStateException(field + " of event " + eventId + " does not authenticate");
    final String text = new String(plain, 0, (int) plainLength[0], StandardCharsets.UTF_8);
    return "json".equals(value.path("t").asText()) ? JSON.readTree(text).toString() : text;
  }

  void update(String sql, Object... args) throws SQLException {
    try (PreparedStatement st = db.prepareStatement(sql)) {
      for (int i = 0; i < args.length; ++i) st.setObject(i + 1, args[i]);
      st.executeUpdate();
    }
  }

  boolean exists(String sql, String id) throws SQLException {
    try (PreparedStatement st = db.prepareStatement(sql)) {
      st.setString(1, id);
      try (ResultSet r = st.executeQuery()) {
        return r.next();
      }
    }
  }

  Long version(String person) throws SQLException {
    try (PreparedStatement st = db.prepareStatement("SELECT version FROM customers WHERE user_id = ?")) {
      st.setString(1, person);
      try (ResultSet r = st.executeQuery()) {
        return r.next() ? r.getLong(1) : null;
      }
    }
  }

  void forget(String person) throws SQLException {
    update("DELETE FROM customers WHERE user_id = ?", person);
    update("INSERT OR IGNORE INTO erased (user_id) VALUES (?)", person);
    keys.forget(person);
  }

  /** Folds one event into the table; returns what it did, for the log. */
  String apply(JsonNode envelope) throws Exception {
    final String type = envelope.get("type").asText();
    final JsonNode payload = envelope.get("payload");
    if (type.equals("user.erased")) {
      forget(payload.get("user_id").asText());
      return "forgot";
    }
    if (!type.startsWith("user.") || !envelope.get("stream_id").asText().startsWith("user-")) return "skipped";
    if (envelope.get("schema_version").asInt() != 1) {
      System.err.println("mirror: " + type + " v" + envelope.get("schema_version") + ": a schema version this mirror does not know; skipped");
      return "skipped";
    }
    final String person = payload.get("user_id").asText();
    final long streamVersion = envelope.get("stream_version").asLong();
    if (exists("SELECT 1 FROM erased WHERE user_id = ?", person)) return "skipped";
    final Long known = version(person);
    if (known != null && streamVersion <= known) return "skipped";  // applied before a restart
    final String eventId = envelope.get("event_id").asText();
    try {
      if (type.equals("user.registered")) {
        update("INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, 1, ?)", person,
            opened(eventId, "email", payload.get("email")), opened(eventId, "name", payload.get("name")),
            payload.get("role").asText(), streamVersion);
        return "applied";
      }
      if (known == null) return "skipped";  // not a customer this mirror keeps
      switch (type) {
        case "user.profile_changed" -> update("UPDATE customers SET name = ? WHERE user_id = ?", opened(eventId, "name", payload.get("name")), person);
        case "user.email_changed" -> update("UPDATE customers SET email = ? WHERE user_id = ?", opened(eventId, "email", payload.get("email")), person);
        case "user.role_changed" -> update("UPDATE customers SET role = ? WHERE user_id = ?", payload.get("role").asText(), person);
        case "user.deactivated" -> update("UPDATE customers SET active = 0 WHERE user_id = ?", person);
        case "user.restored" -> update("UPDATE customers SET active = 1 WHERE user_id = ?", person);
        default -> {}
      }
      update("UPDATE customers SET version = ? WHERE user_id = ?", streamVersion, person);
      return "applied";
    } catch (Gone gone) {
      forget(person);
      return "forgot";
    }
  }

  public static void main(String[] argv) throws Exception {
    final Map<String, String> args = new HashMap<>(Map.of("--topic-prefix", "lethe.", "--group", "mirror-java", "--until-idle", "0"));
    for (int i = 0; i + 1 < argv.length; i += 2) args.put(argv[i], argv[i + 1]);
    for (String required : List.of("--brokers", "--api", "--db"))
      if (!args.containsKey(required)) {
        System.err.println("mirror: " + required + " is required");
        System.exit(2);
      }
    final String token = System.getenv("LETHE_SERVICE_TOKEN");
    if (token == null || token.isEmpty()) {
      System.err.println("mirror: set LETHE_SERVICE_TOKEN to the service account's API key");
      System.exit(2);
    }
    final double untilIdle = Double.parseDouble(args.get("--until-idle"));

    final Connection db = DriverManager.getConnection("jdbc:sqlite:" + args.get("--db"));
    try (Statement st = db.createStatement()) {
      st.execute("PRAGMA secure_delete = ON");  // a deleted row's bytes are overwritten
      st.execute("CREATE TABLE IF NOT EXISTS customers (user_id TEXT PRIMARY KEY, email TEXT, name TEXT,"
          + " role TEXT NOT NULL, active INTEGER NOT NULL, version INTEGER NOT NULL)");
      st.execute("CREATE TABLE IF NOT EXISTS erased (user_id TEXT PRIMARY KEY)");
    }
    db.setAutoCommit(false);
    final Mirror mirror = new Mirror(new Keys(args.get("--api"), token), db);

    final Properties props = new Properties();
    props.put("bootstrap.servers", args.get("--brokers"));
    props.put("group.id", args.get("--group"));
    props.put("auto.offset.reset", "earliest");
    props.put("enable.auto.commit", "false");
    final Map<String, Integer> counts = new HashMap<>(Map.of("applied", 0, "skipped", 0, "forgot", 0));
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
      final String prefix = args.get("--topic-prefix");
      consumer.subscribe(List.of(prefix + "users", prefix + "erasure"));
      long lastMessage = 0;  // idle time counts from the first assignment
      while (true) {
        final ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
        if (lastMessage == 0 && !consumer.assignment().isEmpty()) lastMessage = System.nanoTime();
        if (records.isEmpty()) {
          if (untilIdle > 0 && lastMessage != 0 && (System.nanoTime() - lastMessage) / 1e9 > untilIdle) break;
          continue;
        }
        lastMessage = System.nanoTime();
        for (ConsumerRecord<String, String> r : records) counts.merge(mirror.apply(JSON.readTree(r.value())), 1, Integer::sum);
        db.commit();
        consumer.commitSync();
        System.err.println("mirror: " + records.count() + " messages: " + counts);
      }
    }
    db.close();
    System.err.println("mirror: stopped: " + counts);
  }
}
