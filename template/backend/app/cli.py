"""Operating the project: `python -m app.cli`.

`python -m app.cli` shows the outbox's backlog and every dead letter; `python -m app.cli resend
ID...` (or `--all`) puts dead letters back into the outbox, to be sent again; `python -m app.cli
purge` deletes what can no longer be used: ended or expired sessions, used or expired links, and
deleted accounts past their retention (run it daily, from cron or the like).
"""

import argparse
import asyncio

from app.db.session import SessionFactory, engine
from app.models.account_token import purge_spent_links
from app.models.auth_session import purge_ended_sessions
from app.models.user import purge_old_inactive_users
from app.services.outbox import dead_letters, outbox_status, resend


async def show() -> None:
    async with SessionFactory() as session:
        waiting, oldest = await outbox_status(session)
        letters = await dead_letters(session)
    age = f", the oldest for {oldest.total_seconds():.0f} s" if oldest is not None else ""
    print(f"Outbox: {waiting} message(s) waiting{age}")
    print(f"Dead letters: {len(letters)}")
    for letter in letters:
        print(
            f"  {letter.id}  {letter.task_name}  args={letter.args} kwargs={letter.kwargs}"
            f"  set aside by the {letter.set_aside_by} at {letter.set_aside_at:%Y-%m-%d %H:%M:%S}"
        )
        print(f"    {letter.error}")


async def resend_letters(ids: list[str], every: bool) -> int:
    async with SessionFactory() as session:
        if every:
            ids = [letter.id for letter in await dead_letters(session)]
        sent = await resend(session, ids)
    for task_id in sent:
        print(f"Resent {task_id}")
    missing = sorted(set(ids) - set(sent))
    for task_id in missing:
        print(f"No dead letter {task_id}")
    return 1 if missing else 0


async def purge() -> None:
    async with SessionFactory() as session:
        sessions = await purge_ended_sessions(session)
        links = await purge_spent_links(session)
        users = await purge_old_inactive_users(session)
    print(f"Purged {sessions} ended or expired session(s), {links} used or expired link(s)")
    print(f"Purged {users} inactive account(s) past their retention")


async def main() -> int:
    parser = argparse.ArgumentParser(description="The outbox, its dead letters, and purges.")
    commands = parser.add_subparsers(dest="command")
    resend_parser = commands.add_parser("resend", help="send dead letters again")
    resend_parser.add_argument("ids", nargs="*", metavar="ID", help="task ids to send again")
    resend_parser.add_argument("--all", action="store_true", help="every dead letter")
    commands.add_parser("purge", help="delete ended sessions, spent links and deleted accounts")
    options = parser.parse_args()
    try:
        if options.command == "resend":
            if not options.ids and not options.all:
                resend_parser.error("name the task ids to send again, or --all")
            return await resend_letters(options.ids, options.all)
        if options.command == "purge":
            await purge()
            return 0
        await show()
        return 0
    finally:
        await engine.dispose()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
