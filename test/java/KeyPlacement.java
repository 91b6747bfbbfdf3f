// Where the Java client (kafka-clients, its default partitioner) puts keys.
// relay_kafkatest runs it with the broker's own jars on the class path:
//   java -cp '<kafka-libs>/*' KeyPlacement.java BROKERS TOPIC KEYS_FILE
// It produces one record per line of KEYS_FILE to TOPIC and prints
// "<key> <partition>" for each, as the broker acknowledged it.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

public class KeyPlacement {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: KeyPlacement BROKERS TOPIC KEYS_FILE");
      System.exit(2);
    }
    Properties config = new Properties();
    config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    config.put(ProducerConfig.ACKS_CONFIG, "all");
    List<String> keys = Files.readAllLines(Path.of(args[2]));
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
      List<Future<RecordMetadata>> sent = new ArrayList<>();
      for (String key : keys) sent.add(producer.send(new ProducerRecord<>(args[1], key, "placed by the Java client")));
      for (int i = 0; i < keys.size(); ++i) System.out.println(keys.get(i) + " " + sent.get(i).get().partition());
    }
  }
}
