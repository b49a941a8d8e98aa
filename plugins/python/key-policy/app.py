"""Template validator written in Python: key algorithm and size policy.

Operator config: {"allowed_algorithms": ["rsa", "ecdsa", "ed25519"], "min_rsa_bits": 2048}
A tenant's config may raise min_rsa_bits, never lower it.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import validator
from wit_world.imports import keystead_plugin_types as types

ALGORITHMS = {
    validator.KeyAlgorithm.RSA: "rsa",
    validator.KeyAlgorithm.ECDSA: "ecdsa",
    validator.KeyAlgorithm.ED25519: "ed25519",
    validator.KeyAlgorithm.ED448: "ed448",
}

SCHEMA = json.dumps({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "allowed_algorithms": {"type": "array", "items": {"enum": sorted(ALGORITHMS.values())}},
        "min_rsa_bits": {"type": "integer", "minimum": 1024},
    },
})


def parse_config(text):
    """Returns (allowed algorithms, minimum RSA bits) or raises invalid-input."""
    try:
        config = json.loads(text or "{}")
    except ValueError as e:
        raise Err(types.PluginError_InvalidInput(f"config is not JSON: {e}"))
    if not isinstance(config, dict):
        raise Err(types.PluginError_InvalidInput("config must be an object"))
    unknown = set(config) - {"allowed_algorithms", "min_rsa_bits"}
    if unknown:
        raise Err(types.PluginError_InvalidInput(f"unknown config keys: {sorted(unknown)}"))
    allowed = config.get("allowed_algorithms", sorted(ALGORITHMS.values()))
    if not isinstance(allowed, list) or any(a not in ALGORITHMS.values() for a in allowed):
        raise Err(types.PluginError_InvalidInput(f"allowed_algorithms must be a subset of {sorted(ALGORITHMS.values())}"))
    min_bits = config.get("min_rsa_bits", 2048)
    if not isinstance(min_bits, int) or min_bits < 1024:
        raise Err(types.PluginError_InvalidInput("min_rsa_bits must be an integer >= 1024"))
    return set(allowed), min_bits


class Plugin(exports.Plugin):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="key-policy",
            version="0.1.0",
            description="key algorithm and minimum RSA size per tenant",
            kinds=[types.PluginKind.TEMPLATE_VALIDATOR],
            config_schema=SCHEMA,
            stateless=True,
        )

    def validate_config(self, config: str) -> None:
        parse_config(config)


class Validator(exports.Validator):
    def validate(self, request: validator.CertificateRequest, config: str, tenant_config: str) -> validator.Verdict:
        allowed, min_bits = parse_config(config)
        try:
            tenant = json.loads(tenant_config or "{}")
        except ValueError as e:
            raise Err(types.PluginError_InvalidInput(f"tenant config is not JSON: {e}"))
        min_bits = max(min_bits, int(tenant.get("min_rsa_bits", 0)))

        violations = []
        algorithm = ALGORITHMS[request.key.algorithm]
        if algorithm not in allowed:
            violations.append(validator.Violation(
                field="key.algorithm",
                message=f"{algorithm} keys are not allowed (allowed: {', '.join(sorted(allowed))})",
            ))
        if request.key.algorithm == validator.KeyAlgorithm.RSA and request.key.size_bits < min_bits:
            violations.append(validator.Violation(
                field="key.size-bits",
                message=f"RSA keys need at least {min_bits} bits, got {request.key.size_bits}",
            ))
        if violations:
            return validator.Verdict_Deny(violations)
        return validator.Verdict_Allow()
