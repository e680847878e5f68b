"""The bare Telegram stack: a python-telegram-bot echo bot, by polling or behind a minimal Starlette webhook.

    python -m bench.baselines.echo_bot polling --api-url http://127.0.0.1:PORT/bot --token 123:ABC
    python -m bench.baselines.echo_bot webhook --api-url ... --token ... --port 8123 --secret S

An `Application` with two handlers: a text (commands included) is answered with itself and three inline
buttons; a button press is answered (answerCallbackQuery) and gets a new message with the same buttons.
Updates are handled one after the other (PTB's default): that is the echo bot's best figure here, since
with `concurrent_updates` its sends run at once and httpx/httpcore's connection pool costs more per request
the more requests are in flight (at 100 chats: about 430 replies/s in order, 80/s with 256 at once).
Webhook mode: Starlette under uvicorn, POST /webhooks/telegram checks the secret-token header and puts the
update on PTB's queue (as PTB's own custom-webhook example does), GET /healthz answers 200.
Started as its own process by the benchmark (bench.systems); stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton(f"Choix {n}", callback_data=f"echo:{n}") for n in (1, 2, 3)]])


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(message.text or "?", reply_markup=KEYBOARD)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    await asyncio.gather(
        query.answer(), context.bot.send_message(chat.id, f"Vous avez choisi {query.data}", reply_markup=KEYBOARD)
    )


def build(api_url: str, token: str, concurrent: int = 1) -> Application:  # type: ignore[type-arg]
    builder = Application.builder().token(token).base_url(api_url).base_file_url(api_url.replace("/bot", "/file/bot"))
    application = builder.concurrent_updates(concurrent if concurrent > 1 else False).build()
    application.add_handler(MessageHandler(filters.TEXT, on_text))
    application.add_handler(CallbackQueryHandler(on_button))
    return application


def run_polling(api_url: str, token: str, concurrent: int) -> None:
    build(api_url, token, concurrent).run_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)


async def run_webhook(api_url: str, token: str, port: int, secret: str, concurrent: int) -> None:
    application = build(api_url, token, concurrent)

    async def webhook(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret.encode()):
            return Response("Forbidden", status_code=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return Response()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route(WEBHOOK_PATH, webhook, methods=["POST"]), Route("/healthz", healthz)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with application:
        await application.bot.set_webhook(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", secret_token=secret)
        await application.start()
        await server.serve()  # until SIGTERM
        await application.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="python-telegram-bot echo bot (benchmark baseline)")
    parser.add_argument("mode", choices=["polling", "webhook"])
    parser.add_argument("--api-url", required=True, help="the Bot API base URL, ending in /bot")
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default="")
    parser.add_argument("--concurrent", type=int, default=1, help="updates handled at once (1: in order)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.mode == "polling":
        run_polling(args.api_url, args.token, args.concurrent)
    else:
        asyncio.run(run_webhook(args.api_url, args.token, args.port, args.secret, args.concurrent))


if __name__ == "__main__":
    main()
