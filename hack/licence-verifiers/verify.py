"""Verifies a kooper licence key, a compact JWS (RFC 7515) signed with EdDSA (RFC 8037).
Usage: python3 verify.py PUBLIC_KEY PRODUCT_ID FINGERPRINT LICENCE_KEY [REVOCATION_LIST]"""
import base64, hashlib, json, sys, time
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def b64(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

def verify(jws, typ, raw):
    h, p, s = jws.strip().split(".")
    header, kid = json.loads(b64(h)), hashlib.sha256(raw).hexdigest()[:16]
    if header.get("alg") != "EdDSA" or header.get("typ") != typ or header.get("kid") != kid or "crit" in header:
        sys.exit(f"licence key NOT valid: not a {typ} signed with EdDSA by key {kid}")
    try: Ed25519PublicKey.from_public_bytes(raw).verify(b64(s), f"{h}.{p}".encode("ascii"))
    except InvalidSignature: sys.exit("licence key NOT valid: bad signature")
    return json.loads(b64(p))

def refuse(reason): sys.exit("licence key NOT valid: " + reason)

def main():
    raw, product, fingerprint, now = b64(sys.argv[1]), sys.argv[2], sys.argv[3], int(time.time())
    claims = verify(sys.argv[4], "kooper-licence+jwt", raw)
    if claims["iss"] != product: refuse("licence for another product")
    if now + 300 < claims["nbf"]: refuse("licence not yet valid")  # 5 min of skew
    if now >= claims["exp"]: refuse("licence expired")
    if claims.get("fingerprint", fingerprint) != fingerprint: refuse("licence bound to another device")
    if len(sys.argv) > 5:
        revoked = verify(sys.argv[5], "kooper-revocations+jwt", raw)
        if revoked["iss"] != product: refuse("revocation list for another product")
        if now - revoked["iat"] > 86400: refuse("revocation list too old")
        if any(r["sub"] == claims["sub"] for r in revoked["revoked"]): refuse("licence revoked")
    print(json.dumps(claims))

try: main()
except (ValueError, KeyError, IndexError, TypeError) as e: refuse(f"malformed input ({type(e).__name__})")
