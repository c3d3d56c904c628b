#!/usr/bin/python3
"""An independent reader of envpack's encrypted stores (formats/STORE.md, section 8),
written from the spec with python3-cryptography: opens every chunk and snapshot
object of STORE with the recipient's private key and checks each against its name.
Prints "chunks N snapshots M" and exits 0 when all open and match, else 1.

    open_sealed.py STORE RECIPIENT.key
"""
import glob, hashlib, hmac, json, os, subprocess, sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


store, keyfile = sys.argv[1:]
priv = serialization.load_pem_private_key(open(keyfile, "rb").read(), password=None)
R = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
k_name = hkdf(R, b"", b"envpack object names v1")
key_id = hashlib.sha256(R).digest()[:8]
config = json.load(open(f"{store}/config.json"))
assert config["encryption"] == {"scheme": "x25519-hkdf-sha256-aes-256-gcm", "recipient": key_id.hex()}, config


def open_object(data, aad):
    assert data[:4] == b"EPE1" and data[4:12] == key_id, "not sealed to this key"
    eph, nonce = data[12:44], data[44:56]
    k = hkdf(priv.exchange(X25519PublicKey.from_public_bytes(eph)), eph + R, b"envpack seal v1")
    return AESGCM(k).decrypt(nonce, data[56:], data[:56] + aad)


def oid(digest):
    return hmac.new(k_name, digest, hashlib.sha256).hexdigest()


chunks = snaps = 0
for path in glob.glob(f"{store}/chunks/*/*.zst"):
    name = os.path.basename(path)[:-4]
    frame = open_object(open(path, "rb").read(), bytes.fromhex(name))
    plain = subprocess.run(["zstd", "-dc"], input=frame, capture_output=True, check=True).stdout
    assert oid(hashlib.sha256(plain).digest()) == name, f"{path}: content does not answer to its name"
    chunks += 1
for path in glob.glob(f"{store}/snapshots/*.json"):
    rel = os.path.relpath(path, store)
    manifest = open_object(open(path, "rb").read(), rel.encode())
    assert oid(hashlib.sha256(manifest).digest()) == os.path.basename(path)[:-5], f"{path}: not its id"
    json.loads(manifest)
    if os.path.exists(path[:-5] + ".sig"):
        json.loads(open_object(open(path[:-5] + ".sig", "rb").read(), rel[:-5].encode() + b".sig"))
    snaps += 1
print(f"chunks {chunks} snapshots {snaps}")
