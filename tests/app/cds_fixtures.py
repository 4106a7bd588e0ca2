"""CDS Hooks test helpers: client keys and signed JWTs, a stub FHIR server on 127.0.0.1, and
requests shaped after the CDS Hooks 2.0 specification's examples.

The examples keep the specification's structure, ids and codes (order-select: the R4 example's
NutritionOrder and draft MedicationRequest ``smart-MedicationRequest-103``, RxNorm 617993;
patient-view: patient ``1288992``, encounter ``89284``, the ``fhirAuthorization`` block); their
clinical content (Conditions, the active warfarin order) is what MedRec's services read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISS = "https://ehr.example.org"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD9 = "http://hl7.org/fhir/sid/icd-9-cm"


def jwks() -> dict[str, Any]:
    """The client's public keys: an RSA key (kid ``rsa-1``) and a P-384 key (``ec-1``)."""
    rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True)
    ec_jwk = jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True)
    return {"keys": [{**rsa_jwk, "kid": "rsa-1", "use": "sig"},
                     {**ec_jwk, "kid": "ec-1", "use": "sig"}]}  # fmt: skip


def claims(aud: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISS, "sub": "client", "aud": aud, "iat": now, "exp": now + 300,
            "jti": str(uuid.uuid4())}  # fmt: skip
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(aud: str, *, alg: str = "RS384", kid: str = "rsa-1", **changes: Any) -> str:
    """A JWT as a CDS client signs it (RS384 with the RSA key, ES384 with the EC key)."""
    key = RSA_KEY if alg.startswith("RS") else EC_KEY
    return jwt.encode(claims(aud, **changes), key, algorithm=alg, headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(aud: str, alg: str) -> str:
    """``alg: none`` (no signature), or HS256 keyed with the client's public key (PEM)."""
    head = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "rsa-1"}).encode())
    body = _b64(json.dumps(claims(aud)).encode())
    if alg == "none":
        return f"{head}.{body}."
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sig = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def med_request(id_: str, code: str, display: str, *, status: str = "active",
                intent: str = "order", encounter: str | None = None) -> dict[str, Any]:  # fmt: skip
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": id_, "status": status, "intent": intent,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code,
                                                  "display": display}], "text": display},
        "subject": {"reference": "Patient/1288992"},
    }  # fmt: skip
    if encounter:
        res["encounter"] = {"reference": f"Encounter/{encounter}"}
    return res


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


WARFARIN = med_request("warfarin-1", "855332", "Warfarin Sodium 5 MG Oral Tablet")
AMOXICILLIN_DRAFT = med_request(
    "smart-MedicationRequest-103", "617993",
    "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension",
    status="draft",
)  # fmt: skip


def order_select() -> dict[str, Any]:
    """The specification's R4 order-select example, with the active medications prefetched."""
    nutrition = {
        "resourceType": "NutritionOrder", "id": "pureeddiet-simple", "status": "draft",
        "intent": "order", "patient": {"reference": "Patient/1288992"}, "dateTime": "2014-09-17",
        "oralDiet": {"type": [{"coding": [{"system": "http://snomed.info/sct",
                                           "code": "226211001", "display": "Pureed diet"}]}]},
    }  # fmt: skip
    return {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "hook": "order-select",
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "context": {
            "userId": "PractitionerRole/123",
            "patientId": "1288992",
            "encounterId": "89284",
            "selections": [
                "NutritionOrder/pureeddiet-simple",
                "MedicationRequest/smart-MedicationRequest-103",
            ],
            "draftOrders": {
                "resourceType": "Bundle",
                "entry": [{"resource": nutrition}, {"resource": AMOXICILLIN_DRAFT}],
            },
        },  # fmt: skip
        "prefetch": {"medications": searchset(WARFARIN)},
    }


def condition(id_: str, code: str, encounter: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": id_, "subject": {"reference": "Patient/1288992"},
            "encounter": {"reference": f"Encounter/{encounter}"},
            "code": {"coding": [{"system": ICD9, "code": code}]}, **extra}  # fmt: skip


def encounter(id_: str, start: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": id_, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "IMP"},
            "subject": {"reference": "Patient/1288992"}, "period": {"start": start}}  # fmt: skip


def patient_record() -> dict[str, dict[str, Any]]:
    """Prefetch of the patient-view example: two encounters, the current one ``89284``."""
    refuted = {"verificationStatus": {"coding": [{"code": "refuted"}]}}
    return {
        "encounters": searchset(encounter("e-old", "2024-01-02T10:00:00Z"),
                                encounter("89284", "2025-03-04T10:00:00Z")),
        "conditions": searchset(condition("c1", "401.9", "e-old"),
                                condition("c2", "428.0", "89284"),
                                condition("c3", "250.00", "89284", **refuted)),
        "procedures": searchset(),
        "medications": searchset(
            med_request("m-old", "855332", "Warfarin", status="completed", encounter="e-old"),
            med_request("m-prop", "866924", "Metoprolol", intent="proposal", encounter="e-old"),
        ),
    }  # fmt: skip


def patient_view(prefetch: dict[str, Any] | None) -> dict[str, Any]:
    """The specification's patient-view example (its fhirAuthorization included)."""
    body: dict[str, Any] = {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "hook": "patient-view",
        "fhirAuthorization": {"access_token": "some-opaque-fhir-access-token",
                              "token_type": "Bearer", "expires_in": 300,
                              "scope": "user/Patient.read user/Observation.read",
                              "subject": "cds-service4"},
        "context": {"userId": "Practitioner/example", "patientId": "1288992",
                    "encounterId": "89284"},
    }  # fmt: skip
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


class StubFhirServer:
    """A FHIR server on 127.0.0.1 answering searches from ``routes`` (resource type → body)."""

    def __init__(self, routes: dict[str, dict[str, Any]]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str]] = []  # (path with query, Authorization header)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                stub.seen.append((self.path, self.headers.get("Authorization", "")))
                body = stub.routes.get(self.path.lstrip("/").split("?", 1)[0])
                data = json.dumps(body).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> StubFhirServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
