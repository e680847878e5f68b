"""The bare SMS stack: a Starlette app under uvicorn that checks Twilio's signature and answers in TwiML.

    python -m bench.baselines.sms_app --port 8124 --auth-token TOKEN --public-url http://127.0.0.1:8124

POST /webhooks/twilio/sms: the form read, X-Twilio-Signature checked with twilio's RequestValidator against
the public URL (403 when wrong), the body answered in a <Message> (so its reply is the TwiML answer itself,
not a REST call). GET /healthz answers 200. Started as its own process by the benchmark; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
from xml.sax.saxutils import escape

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

INBOUND_PATH = "/webhooks/twilio/sms"  # the path relai-bot serves (relai_bot.channels.sms.channel)


def create_app(auth_token: str, public_url: str) -> Starlette:
    validator = RequestValidator(auth_token)
    url = public_url.rstrip("/") + INBOUND_PATH

    async def inbound(request: Request) -> Response:
        form = await request.form()
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return Response("Forbidden", status_code=403, media_type="text/plain")
        body = escape(str(form.get("Body") or ""))
        twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{body}</Message></Response>'
        return Response(twiml, media_type="text/xml")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(INBOUND_PATH, inbound, methods=["POST"]), Route("/healthz", healthz)])


def main() -> None:
    parser = argparse.ArgumentParser(description="Starlette + RequestValidator SMS app (benchmark baseline)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--public-url", required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.auth_token, args.public_url), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
