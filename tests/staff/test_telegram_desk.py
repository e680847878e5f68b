"""/diffuser on Telegram: python-telegram-bot for real through the channel, the staff desk in front of the
residents' dispatcher, FakeTelegramServer where Telegram would be."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event
from sqlmodel import select

from relai_bot.clock import FrozenClock
from relai_bot.services import accounts, staff_telegram
from relai_bot.staff.telegram_desk import StaffDesk
from relai_bot.store.models import Broadcast, ChannelAddress, OutboxMessage, StaffChat
from relai_bot.turns import Inbound
from relai_bot.wiring import Runtime
from tests.delivery_support import add_residents
from tests.telegram_harness import RELAXED_CHANNEL, TelegramStack, TgChat, telegram_stack
from tests.web.admin_support import make_account

STAFF_CHAT = 9001
WELCOME = "Êtes-vous d'accord ?"


@pytest.fixture
async def stack(sqlite_url: str, clock: FrozenClock) -> AsyncIterator[TelegramStack]:
    async with telegram_stack(sqlite_url, clock, dispatcher=StaffDesk) as running:
        yield running
        running.assert_clean()


def residents(runtime: Runtime, count: int = 3, district: str = "saint-laurent", first: int = 10_000) -> None:
    with runtime.db.transaction() as session:
        add_residents(session, count, runtime.clock.now(), district=district, first_address=first)


def agent(runtime: Runtime) -> accounts.Account:
    return make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent", "pichette"])


def code_for(runtime: Runtime, account_id: int) -> str:
    with runtime.db.transaction() as session:
        return staff_telegram.new_link_code(session, account_id, runtime.clock.now())


async def linked(stack: TelegramStack, account: accounts.Account) -> TgChat:
    chat = stack.chat(STAFF_CHAT)
    await chat.send(f"/lier {code_for(stack.runtime, account.id)}")
    assert "ce compte Telegram est lié au compte de Agent" in chat.text
    return chat


def exchange(runtime: Runtime, account_id: int) -> StaffChat | None:
    with runtime.db.transaction() as session:
        return session.get(StaffChat, account_id)


async def test_an_unlinked_chat_sending_diffuser_is_a_resident(stack: TelegramStack) -> None:
    agent(stack.runtime)
    chat = stack.chat(STAFF_CHAT)
    await chat.send("/diffuser")
    assert WELCOME in chat.text and "Diffuser" not in chat.text


async def test_a_staff_member_links_then_broadcasts_to_their_district(stack: TelegramStack) -> None:
    runtime = stack.runtime
    account = agent(runtime)
    residents(runtime)
    residents(runtime, 2, district="moulin-joli", first=11_000)  # not one of theirs
    chat = await linked(stack, account)
    await chat.send("/diffuser")
    assert "À quel quartier écrivez-vous ?" in chat.text
    assert chat.labels == ["Pichette", "Saint-Laurent", "Tous mes quartiers", "Annuler"]
    assert all(b.id.startswith("staff:") and len(b.id.encode()) <= 64 for b in chat.options)
    await chat.tap("Saint-Laurent")
    assert "Quartier : Saint-Laurent." in chat.text and "{{ prenom }}" in chat.text
    await chat.send("Bonjour {{ nom }}, atelier CV jeudi.")
    assert "Ce texte ne peut pas partir : Champ inconnu : {{ nom }}." in chat.text
    assert "Écrivez maintenant votre message" in chat.text  # the step again
    await chat.send("Bonjour {{ prenom }}, atelier CV jeudi à {{ quartier }} & ailleurs <3")
    preview = chat.text
    assert "Aperçu de votre diffusion" in preview
    assert "Destinataires : 3 (Telegram 3)." in preview
    assert "SMS : aucun, donc aucun coût." in preview
    assert "Départ : tout de suite" in preview and "Validation : pas nécessaire." in preview
    # The message as residents see it: placeholders filled in, the text shown as typed (escaped once)
    assert (
        "Bonjour, atelier CV jeudi à Saint-Laurent &amp; ailleurs &lt;3" in stack.srv.sent_messages(STAFF_CHAT)[-1].text
    )
    assert "Bonjour, atelier CV jeudi à Saint-Laurent & ailleurs <3" in preview
    assert chat.labels == ["Envoyer", "Modifier le texte", "Annuler"]
    edit = chat.button("Modifier le texte")
    await chat.tap("Envoyer")
    assert "C'est parti : diffusion n° " in chat.text and "3 destinataires" in chat.text
    with runtime.db.transaction() as session:
        broadcast = session.exec(select(Broadcast)).one()
        assert broadcast.author_id == account.id and broadcast.created_by == "agent@mairie.re"
        assert broadcast.status == "queued" and broadcast.districts == ["saint-laurent"]
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "broadcast")).all()
        assert sorted(r.address for r in rows) == ["10000", "10001", "10002"]
        assert session.get(StaffChat, account.id) is None
    # The buttons of the finished exchange do nothing more
    await chat.press(edit)
    assert "cette diffusion est terminée" in chat.text
    with runtime.db.transaction() as session:
        assert len(session.exec(select(Broadcast)).all()) == 1
    # Outside an exchange, the staff member is a resident like any other
    await chat.send("bonjour")
    assert WELCOME in chat.text


async def test_old_and_forged_buttons_get_the_current_step_again(stack: TelegramStack) -> None:
    account = agent(stack.runtime)
    chat = await linked(stack, account)
    await chat.send("/diffuser")
    old = chat.button("Pichette")
    await chat.tap("Saint-Laurent")
    await chat.press(old)
    assert "Ce bouton n'est plus valable. Voici où vous en êtes." in chat.text
    assert "Quartier : Saint-Laurent." in chat.text
    await chat.press("staff:000000:send")
    assert "Ce bouton n'est plus valable" in chat.text
    row = exchange(stack.runtime, account.id)
    assert row is not None and row.step == "text" and row.draft == {"districts": ["saint-laurent"]}
    await chat.tap("Annuler")
    assert "Diffusion annulée" in chat.text and exchange(stack.runtime, account.id) is None


async def test_modify_the_text_and_annuler(stack: TelegramStack) -> None:
    account = agent(stack.runtime)
    residents(stack.runtime, 1, district="pichette", first=12_000)
    chat = await linked(stack, account)
    await chat.send("/diffuser")
    await chat.tap("Tous mes quartiers")
    assert "Quartiers : Pichette, Saint-Laurent." in chat.text
    await chat.send("Premier texte")
    await chat.tap("Modifier le texte")
    assert "Écrivez maintenant votre message" in chat.text
    await chat.send("/menu")
    assert "répondez avec les boutons (ou /annuler" in chat.text
    await chat.send("/annuler")
    assert "Diffusion annulée" in chat.text
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(Broadcast)).all() == []


async def test_wrong_and_expired_codes_do_not_link(stack: TelegramStack, clock: FrozenClock) -> None:
    account = agent(stack.runtime)
    chat = stack.chat(STAFF_CHAT)
    await chat.send("/lier")
    assert "envoyez /lier suivi du code" in chat.text
    await chat.send("/lier ZZZZ9999")
    assert "Ce code ne marche pas" in chat.text and "encore essayer 4 fois" in chat.text
    code = code_for(stack.runtime, account.id)
    clock.advance(minutes=16)
    await chat.send(f"/lier {code}")
    assert "Ce code ne marche pas" in chat.text
    await chat.send("/diffuser")
    assert WELCOME in chat.text
    for _ in range(3):
        await chat.send("/lier ZZZZ9999")
    assert "Trop de codes faux" in chat.text


async def test_a_disabled_account_is_no_longer_served_by_the_desk(stack: TelegramStack) -> None:
    runtime = stack.runtime
    account = agent(runtime)
    admin = make_account(runtime, "admin@mairie.re", "admin")
    chat = await linked(stack, account)
    await chat.send("/diffuser")
    await chat.tap("Saint-Laurent")
    with runtime.db.transaction() as session:
        accounts.disable_account(session, account.id, actor_id=admin.id, now=runtime.clock.now())
    await chat.send("Bonjour {{ prenom }}")
    assert WELCOME in chat.text and "Aperçu" not in chat.text
    await chat.send("/diffuser")
    assert "À quel quartier" not in chat.text


async def test_an_admin_sees_every_district_and_a_large_broadcast_waits_for_approval(
    sqlite_url: str, clock: FrozenClock
) -> None:
    settings = {**RELAXED_CHANNEL, "broadcast_approval_above": 2}
    async with telegram_stack(sqlite_url, clock, dispatcher=StaffDesk, settings=settings) as stack:
        admin = make_account(stack.runtime, "chef@mairie.re", "admin")
        residents(stack.runtime)
        with stack.runtime.db.transaction() as session:
            now = stack.runtime.clock.now()
            add_residents(session, 2, now, district="saint-laurent", channel="sms", first_address=262692000001)
            for row in session.exec(select(ChannelAddress).where(ChannelAddress.channel == "sms")):
                row.address = "+" + row.address
        chat = stack.chat(STAFF_CHAT)
        await chat.send(f"/lier {code_for(stack.runtime, admin.id)}")
        await chat.send("/diffuser")
        assert len(chat.labels) == 9 + 2 and chat.labels[-2:] == ["Tous les quartiers", "Annuler"]
        await chat.tap("Saint-Laurent")
        await chat.send("Réunion d'information lundi")
        assert "Destinataires : 5 (Telegram 3, SMS 2)." in chat.text
        assert "SMS : 2 destinataires, 1 SMS au plus chacun, 2 en tout. Coût estimé : 0,14 EUR." in chat.text
        assert "Validation : nécessaire. Au-delà de 2 destinataires" in chat.text
        await chat.tap("Envoyer")
        assert "attend la validation d'un autre administrateur" in chat.text
        with stack.runtime.db.transaction() as session:
            assert session.exec(select(Broadcast)).one().status == "pending_approval"
            assert session.exec(select(OutboxMessage)).all() == []
        stack.assert_clean()


async def test_a_restart_continues_the_exchange_where_it_was(sqlite_url: str, clock: FrozenClock) -> None:
    async with telegram_stack(sqlite_url, clock, dispatcher=StaffDesk) as stack:
        account = agent(stack.runtime)
        residents(stack.runtime)
        chat = await linked(stack, account)
        await chat.send("/diffuser")
        await chat.tap("Saint-Laurent")
        stack.assert_clean()
    async with telegram_stack(sqlite_url, clock, dispatcher=StaffDesk, seed=False) as stack:
        chat = stack.chat(STAFF_CHAT)
        # A new fake server counts message ids from 1 again (Telegram would not): one not handled before
        await chat.send("Atelier CV jeudi", message_id=1000)
        assert "Destinataires : 3 (Telegram 3)." in chat.text
        await chat.tap("Envoyer")
        assert "C'est parti" in chat.text
        stack.assert_clean()


def test_other_channels_pass_through_unchanged(runtime: Runtime) -> None:
    account = agent(runtime)
    desk = StaffDesk(runtime.dispatcher)
    with runtime.db.transaction() as session:
        code = staff_telegram.new_link_code(session, account.id, runtime.clock.now())
    turn = desk.handle_sync(Inbound(channel="console", address="someone", text=f"/lier {code}"))
    assert WELCOME in turn.text
    with runtime.db.transaction() as session:
        assert staff_telegram.link_status(session, account.id, runtime.clock.now()).linked is False


async def test_a_residents_message_through_the_desk_is_one_transaction(stack: TelegramStack) -> None:
    """The desk looks for a staff chat inside the turn's transaction, not in one of its own."""
    chat = await stack.onboarded(10_500)
    await stack.channel.idle()
    begins: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    engine = stack.runtime.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await chat.send("menu")
        await stack.channel.idle()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "Que voulez-vous faire ?" in chat.text
    # the turn, then the batch of Telegram ids written on its log rows
    assert len(begins) == 2, begins
