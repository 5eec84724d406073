import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.*;
import java.security.spec.X509EncodedKeySpec;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Verifies a kooper licence key, a compact JWS (RFC 7515) signed with EdDSA (RFC 8037), with the JDK (15+) alone.
 *  Usage: java Verify.java PUBLIC_KEY PRODUCT_ID FINGERPRINT LICENCE_KEY [REVOCATION_LIST] */
public class Verify {
  public static void main(String[] a) throws Exception {
    byte[] raw = Base64.getUrlDecoder().decode(a[0]);
    long now = System.currentTimeMillis() / 1000;
    String claims = verify(a[3], "kooper-licence+jwt", raw), fp = get(claims, "fingerprint");
    if (!a[1].equals(get(claims, "iss"))) fail("licence for another product");
    if (now + 300 < Long.parseLong(get(claims, "nbf"))) fail("licence not yet valid"); // 5 min of skew
    if (now >= Long.parseLong(get(claims, "exp"))) fail("licence expired");
    if (fp != null && !fp.equals(a[2])) fail("licence bound to another device");
    if (a.length > 4) {
      String list = verify(a[4], "kooper-revocations+jwt", raw);
      if (!a[1].equals(get(list, "iss"))) fail("revocation list for another product");
      if (now - Long.parseLong(get(list, "iat")) > 86400) fail("revocation list too old");
      if (list.matches("(?s).*\"sub\":\"" + Pattern.quote(get(claims, "sub")) + "\".*")) fail("licence revoked");
    }
    System.out.println(claims);
  }

  static String verify(String jws, String typ, byte[] raw) throws GeneralSecurityException {
    String[] p = jws.trim().split("\\.", -1);
    if (p.length != 3) fail("not a compact JWS");
    String header = decode(p[0]);
    String kid = String.format("%016x", ByteBuffer.wrap(MessageDigest.getInstance("SHA-256").digest(raw)).getLong());
    if (!"EdDSA".equals(get(header, "alg")) || !typ.equals(get(header, "typ")) || !kid.equals(get(header, "kid"))
        || header.contains("\"crit\"")) fail("not a " + typ + " signed with EdDSA by key " + kid);
    // The X.509 SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): this DER prefix, then the raw 32 bytes.
    byte[] spki = ByteBuffer.allocate(44).put(new BigInteger("302a300506032b6570032100", 16).toByteArray()).put(raw).array();
    Signature sig = Signature.getInstance("Ed25519");
    sig.initVerify(KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(spki)));
    sig.update((p[0] + "." + p[1]).getBytes(StandardCharsets.US_ASCII));
    if (!sig.verify(Base64.getUrlDecoder().decode(p[2]))) fail("bad signature");
    return decode(p[1]);
  }

  static String decode(String part) {
    return new String(Base64.getUrlDecoder().decode(part), StandardCharsets.UTF_8);
  }

  // The JDK has no JSON parser: this reads a string or integer member of kooper's compact JSON,
  // whose member names are fixed, and undoes a string's escapes (\u003c for <, say).
  // Production code should use a JSON library.
  static String get(String json, String name) {
    var m = Pattern.compile("\"" + name + "\":(?:\"((?:[^\"\\\\]|\\\\.)*)\"|(-?\\d+)[,}])").matcher(json);
    if (!m.find()) return null;
    if (m.group(1) == null) return m.group(2);
    return Pattern.compile("\\\\(u[0-9a-fA-F]{4}|.)").matcher(m.group(1)).replaceAll(e -> Matcher.quoteReplacement(
        e.group(1).length() == 5 ? String.valueOf((char) Integer.parseInt(e.group(1).substring(1), 16))
        : switch (e.group(1)) { case "n" -> "\n"; case "t" -> "\t"; case "r" -> "\r"; case "b" -> "\b"; case "f" -> "\f"; default -> e.group(1); }));
  }

  static void fail(String reason) {
    System.err.println("licence key NOT valid: " + reason);
    System.exit(1);
  }
}
