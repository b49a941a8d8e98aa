"""Webhook transport written in Python: ntfy-style push notifications.

POSTs a short plain-text message to the endpoint URL (an ntfy topic such as
https://ntfy.sh/my-pki-alerts) with ntfy's headers: Title, Tags, Priority and,
when configured, Click. Like every Keystead delivery it carries X-Keystead-Event,
X-Keystead-Event-Id and the HMAC-SHA256 signature in X-Keystead-Signature and
X-WRVault-Signature (t=<unix>,v1=<hex of HMAC(secret, "<t>.<body>")>).

Operator config:  {"timeout_ms": 10000, "click": "https://pki.example.com"}
Endpoint config:  {"headers": {"Authorization": "Bearer tk_..."}}
"""

import hashlib
import hmac
import json
import time
import warnings  # noqa: F401  (used lazily by the standard library; must be in the snapshot)

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports import webhook_sender
from wit_world.imports import keystead_plugin_types as types
from wit_world.imports import outgoing_handler
from wit_world.imports import wasi_http_types as http

# componentize-py snapshots the modules loaded while building; sign once now so that
# everything signing needs is loaded.
hmac.new(b"key", b"message", hashlib.sha256).hexdigest()

SCHEMA = json.dumps({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "timeout_ms": {"type": "integer", "minimum": 1},
        "click": {"type": "string"},
    },
})

# Set by the transport; an endpoint's extra headers may not replace them.
RESERVED = {
    "content-type", "content-length", "host", "user-agent", "title", "tags", "priority",
    "x-keystead-event", "x-keystead-event-id", "x-keystead-signature", "x-wrvault-signature",
}

# (tags, priority, title) per event type; {cn} and the data's members fill in.
STYLE = {
    "certificate.issued": ("white_check_mark,lock", "default", "Certificate issued: {cn}"),
    "certificate.renewed": ("arrows_counterclockwise,lock", "default", "Certificate renewed: {cn}"),
    "certificate.revoked": ("rotating_light,lock", "high", "Certificate revoked: {cn}"),
    "certificate.expiring": ("warning,hourglass", "default", "Certificate expiring: {cn}"),
    "certificate.expired": ("x,lock", "high", "Certificate expired: {cn}"),
    "key.rotated": ("key", "default", "JWT key rotated: {name}"),
    "jwk.created": ("key", "low", "JWK created: {name}"),
    "rotation.failed": ("rotating_light", "urgent", "Rotation failed: {cn}"),
    "webhook.ping": ("wave", "low", "Keystead can reach this topic"),
}


def invalid(message):
    return Err(types.PluginError_InvalidInput(message))


def parse_object(what, text):
    try:
        value = json.loads(text or "{}")
    except ValueError as e:
        raise invalid(f"{what} is not JSON: {e}")
    if not isinstance(value, dict):
        raise invalid(f"{what} must be a JSON object")
    return value


def parse_config(text):
    config = parse_object("config", text)
    unknown = set(config) - {"timeout_ms", "click"}
    if unknown:
        raise invalid(f"unknown config keys: {sorted(unknown)}")
    timeout_ms = config.get("timeout_ms", 10000)
    if not isinstance(timeout_ms, int) or timeout_ms < 1:
        raise invalid("timeout_ms must be a positive integer")
    click = config.get("click")
    if click is not None and not isinstance(click, str):
        raise invalid("click must be a URL string")
    return timeout_ms, click


def endpoint_headers(text):
    settings = parse_object("endpoint config", text)
    unknown = set(settings) - {"headers"}
    if unknown:
        raise invalid(f"unknown endpoint config keys: {sorted(unknown)}")
    headers = settings.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise invalid("headers must map names to strings")
    for name in headers:
        if name.lower() in RESERVED:
            raise invalid(f"header '{name}' is set by the transport")
    return list(headers.items())


def message(event_type, data):
    """(title, body, tags, priority) a person reads on a phone."""
    cn = data.get("commonName") or data.get("name") or "?"
    tags, priority, title = STYLE.get(event_type, ("bell", "default", "Keystead: " + event_type))
    title = title.format(cn=cn, name=data.get("name", "?"))
    lines = []
    if data.get("notAfter"):
        lines.append(f"{cn} is valid until {data['notAfter']}.")
    if event_type == "certificate.expiring":
        days = data.get("daysLeft")
        lines.insert(0, f"{cn} expires in {days} days.")
        if isinstance(days, int) and days <= 1:
            priority = "high"
    if event_type == "certificate.revoked":
        lines.insert(0, f"{cn} was revoked ({data.get('reason', 'unspecified')}).")
    if event_type == "certificate.issued":
        lines.insert(0, f"A certificate for {cn} was issued.")
    if event_type == "key.rotated":
        lines.append(f"New kid {data.get('kid')}, previous kid {data.get('previousKid')}.")
    if data.get("serialNumber"):
        lines.append(f"Serial {data['serialNumber']}.")
    if data.get("error"):
        lines.append(str(data["error"]))
    if not lines:
        lines.append(event_type)
    return title, "\n".join(lines), tags, priority


def split_url(url):
    for prefix, scheme in (("https://", http.Scheme_Https()), ("http://", http.Scheme_Http())):
        if url.startswith(prefix):
            rest = url[len(prefix):]
            cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
            authority, path = rest[:cut], rest[cut:] or "/"
            if path.startswith("?"):
                path = "/" + path
            if not authority or "@" in authority:
                raise invalid(f"{url}: missing host or has credentials")
            return scheme, authority, path
    raise invalid(f"{url}: only http and https URLs")


def failure(url, code):
    """A wasi:http error code as the plugin error that says whose fault it is."""
    name = type(code).__name__
    text = f"{url}: {name.removeprefix('ErrorCode_')}"
    if isinstance(code, (http.ErrorCode_HttpRequestDenied, http.ErrorCode_DestinationIpProhibited)):
        return Err(types.PluginError_Denied(f"request to {url} denied by the host's network policy"))
    if "Timeout" in name:
        return Err(types.PluginError_Retryable(types.RetryAdvice(message=f"timed out: {text}", after_seconds=None)))
    return Err(types.PluginError_Unavailable(f"transport error: {text}"))


def post(url, headers, body, timeout_ms):
    """POSTs body; returns the response status. Any status is an answer."""
    scheme, authority, path = split_url(url)
    try:
        fields = http.Fields.from_list([(name, value.encode()) for name, value in headers])
    except Err:
        raise invalid("a header name or value is not valid HTTP")
    request = http.OutgoingRequest(fields)
    request.set_method(http.Method_Post())
    request.set_scheme(scheme)
    request.set_authority(authority)
    request.set_path_with_query(path)
    outgoing = request.body()
    options = http.RequestOptions()
    nanos = timeout_ms * 1_000_000
    for setter in (options.set_connect_timeout, options.set_first_byte_timeout,
                   options.set_between_bytes_timeout):
        try:
            setter(nanos)
        except Err:
            pass  # the host keeps its own limit
    try:
        pending = outgoing_handler.handle(request, options)
    except Err as e:
        raise failure(url, e.value)
    with outgoing.write() as stream:
        for i in range(0, len(body), 4096):
            stream.blocking_write_and_flush(body[i:i + 4096])
    http.OutgoingBody.finish(outgoing, None)
    with pending.subscribe() as ready:
        ready.block()
    outcome = pending.get()
    if isinstance(outcome, Ok):
        outcome = outcome.value
    if isinstance(outcome, Err) and isinstance(outcome.value, Err):
        outcome = outcome.value
    if isinstance(outcome, Err):
        if outcome.value is None:
            raise Err(types.PluginError_Internal("response already taken"))
        raise failure(url, outcome.value)
    if isinstance(outcome, Ok):
        outcome = outcome.value
    if outcome is None:
        raise Err(types.PluginError_Internal("no response"))
    with outcome as response:
        return response.status()


class Plugin(exports.Plugin):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="ntfy",
            version="0.1.0",
            description="ntfy-style push notification (plain text, Title/Tags/Priority headers)",
            kinds=[types.PluginKind.WEBHOOK_TRANSPORT],
            config_schema=SCHEMA,
            stateless=True,
        )

    def validate_config(self, config: str) -> None:
        parse_config(config)


class WebhookSender(exports.WebhookSender):
    def deliver(self, event: webhook_sender.Event, endpoint: webhook_sender.Endpoint,
                config: str) -> webhook_sender.Delivery:
        timeout_ms, click = parse_config(config)
        extra = endpoint_headers(endpoint.config)
        data = parse_object("event payload", event.payload)
        title, text, tags, priority = message(event.event_type, data)
        body = text.encode()
        headers = extra + [
            ("content-type", "text/plain; charset=utf-8"),
            ("user-agent", "Keystead-Webhooks/1 (ntfy)"),
            ("title", title),
            ("tags", tags),
            ("priority", priority),
            ("x-keystead-event", event.event_type),
            ("x-keystead-event-id", event.id),
        ]
        if click:
            headers.append(("click", click))
        if endpoint.secret:
            t = str(int(time.time()))
            digest = hmac.new(endpoint.secret.encode(), t.encode() + b"." + body, hashlib.sha256)
            signature = f"t={t},v1={digest.hexdigest()}"
            headers += [("x-keystead-signature", signature), ("x-wrvault-signature", signature)]
        started = time.monotonic()
        status = post(endpoint.url, headers, body, timeout_ms)
        elapsed = int((time.monotonic() - started) * 1000)
        return webhook_sender.Delivery(status_code=status, duration_ms=min(elapsed, 2**32 - 1))
