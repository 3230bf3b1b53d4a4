import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A nightly sync as an ERP integrator writes it in Java 17 with the JDK's own HttpClient (no JSON library: the
 * body is built as text, as many such jobs do): a dry run of the batch first, then the batch for real with an
 * Idempotency-Key, then the same call again as a timed-out job would retry it. A 64-bit snowflake id travels as a
 * Java long. Prints one line per answer: status, the headers an integrator reads, and the body as received.
 */
public class NightlySync {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        String secret = args[1];
        long snowflake = 1790000000000000001L;
        String body = "{\"items\":["
                + "{\"opportunityCode\":\"OPP-20260401-001\",\"amount\":2800000,\"stage\":\"won\",\"salesExpansionId\":" + snowflake + "},"
                + "{\"opportunityCode\":\"JAVA-NO-SUCH\",\"amount\":1},"
                + "{\"opportunityCode\":\"OPP-20260401-001\",\"confidencePct\":\"d\"}"
                + "],\"allOrNone\":false}";
        HttpClient client = HttpClient.newHttpClient();
        for (String query : List.of("?dryRun=true", "", "")) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/api/opportunities/integration/batch-update" + query))
                    .header("Content-Type", "application/json")
                    .header("X-Internal-Secret", secret)
                    .header("Idempotency-Key", "erp-nightly-2026-12-03")
                    .PUT(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                    .build();
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            System.out.println(response.statusCode()
                    + " dry-run=" + response.headers().firstValue("X-Dry-Run").orElse("-")
                    + " replayed=" + response.headers().firstValue("Idempotent-Replayed").orElse("-")
                    + " content-type=" + response.headers().firstValue("Content-Type").orElse("-")
                    + " " + response.body());
        }
    }
}
