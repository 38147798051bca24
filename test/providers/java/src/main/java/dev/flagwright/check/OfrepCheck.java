package dev.flagwright.check;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.openfeature.contrib.providers.ofrep.OfrepProvider;
import dev.openfeature.contrib.providers.ofrep.OfrepProviderOptions;
import dev.openfeature.sdk.Client;
import dev.openfeature.sdk.EvaluationContext;
import dev.openfeature.sdk.FlagEvaluationDetails;
import dev.openfeature.sdk.ImmutableContext;
import dev.openfeature.sdk.OpenFeatureAPI;
import dev.openfeature.sdk.Value;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Evaluates flags through the official OpenFeature Java SDK and OFREP provider. Reads a plan on
 * stdin (the same shape as test/providers/python/ofrep_check.py's, with "seed" holding only the
 * users) and prints the results as JSON: one entry per evaluation, and for "seed" the boolean
 * answer per user (the test compares those with Python's hashlib).
 */
public final class OfrepCheck {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    JsonNode plan = JSON.readTree(System.in);
    OfrepProvider provider =
        OfrepProvider.constructProvider(
            OfrepProviderOptions.builder().baseUrl(plan.get("url").asText()).build());
    OpenFeatureAPI api = OpenFeatureAPI.getInstance();
    api.setProviderAndWait(provider);
    Client client = api.getClient();

    ObjectNode out = JSON.createObjectNode();
    out.put("sdk", "dev.openfeature:sdk (Java)");
    ArrayNode results = out.putArray("results");
    for (JsonNode ev : plan.path("evaluations")) {
      String key = ev.get("key").asText();
      EvaluationContext ctx =
          ev.has("targetingKey") ? new ImmutableContext(ev.get("targetingKey").asText()) : new ImmutableContext();
      JsonNode def = ev.get("default");
      FlagEvaluationDetails<?> d;
      Object value;
      switch (ev.get("type").asText()) {
        case "boolean" -> {
          FlagEvaluationDetails<Boolean> b = client.getBooleanDetails(key, def.asBoolean(), ctx);
          d = b;
          value = b.getValue();
        }
        case "string" -> {
          FlagEvaluationDetails<String> s = client.getStringDetails(key, def.asText(), ctx);
          d = s;
          value = s.getValue();
        }
        case "integer" -> {
          FlagEvaluationDetails<Integer> i = client.getIntegerDetails(key, def.asInt(), ctx);
          d = i;
          value = i.getValue();
        }
        case "float" -> {
          FlagEvaluationDetails<Double> f = client.getDoubleDetails(key, def.asDouble(), ctx);
          d = f;
          value = f.getValue();
        }
        case "object" -> {
          Value dv = Value.objectToValue(JSON.convertValue(def, Object.class));
          FlagEvaluationDetails<Value> o = client.getObjectDetails(key, dv, ctx);
          d = o;
          value = plain(o.getValue());
        }
        default -> throw new IllegalArgumentException("unknown type " + ev.get("type"));
      }
      ObjectNode r = results.addObject();
      r.put("key", key);
      r.set("value", JSON.valueToTree(value));
      r.put("variant", d.getVariant());
      r.put("reason", d.getReason());
      r.put("errorCode", d.getErrorCode() == null ? null : d.getErrorCode().name());
    }
    JsonNode seed = plan.get("seed");
    if (seed != null) {
      String key = seed.get("key").asText();
      ArrayNode answers = out.putArray("seedAnswers");
      for (JsonNode user : seed.get("users")) {
        answers.add(client.getBooleanValue(key, false, new ImmutableContext(user.asText())));
      }
    }
    System.out.println(JSON.writeValueAsString(out));
    api.shutdown();
  }

  /** A Value as plain Java objects (maps, lists, numbers), for JSON output. */
  private static Object plain(Value v) {
    if (v == null || v.isNull()) return null;
    if (v.isBoolean()) return v.asBoolean();
    if (v.isString()) return v.asString();
    if (v.isNumber()) {
      double d = v.asDouble();
      return d == Math.rint(d) && !Double.isInfinite(d) ? (Object) (long) d : (Object) d;
    }
    if (v.isList()) {
      List<Object> list = new ArrayList<>();
      for (Value item : v.asList()) list.add(plain(item));
      return list;
    }
    if (v.isStructure()) {
      Map<String, Object> map = new LinkedHashMap<>();
      for (Map.Entry<String, Value> e : v.asStructure().asMap().entrySet()) map.put(e.getKey(), plain(e.getValue()));
      return map;
    }
    return v.asObject();
  }
}
