"""Entry points run by dsforge inside the argilla-server environment.

    python -m dsforge_sqlsearch bootstrap   # migrate, WAL, users and workspace (JSON on stdin)
    python -m dsforge_sqlsearch serve --host 127.0.0.1 --port 6900 [--bootstrap]
    python -m dsforge_sqlsearch worker

Each imports the engine first, so `SearchEngine.register` has run in the
process before argilla-server looks the engine up by name. `serve --bootstrap`
prepares the database in the server process itself: importing argilla-server
costs seconds, so paying it once shortens every start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

BOOTSTRAPPED = "dsforge: bootstrap done"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dsforge_sqlsearch")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=6900)
    serve.add_argument("--bootstrap", action="store_true", help="bootstrap first, with the JSON spec on stdin")
    commands.add_parser("worker")
    commands.add_parser("bootstrap")
    args = parser.parse_args(argv)

    import dsforge_sqlsearch.engine  # noqa: F401  (registers the engine)

    if args.command == "serve":
        import uvicorn

        if args.bootstrap:
            bootstrap(json.load(sys.stdin))
            print(BOOTSTRAPPED, flush=True)

        uvicorn.run("argilla_server:app", host=args.host, port=args.port, access_log=False, log_level="warning")
        return 0
    if args.command == "worker":
        from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
        from rq import Worker

        Worker([HIGH_QUEUE, DEFAULT_QUEUE], connection=REDIS_CONNECTION).work(with_scheduler=False)
        return 0
    return bootstrap(json.load(sys.stdin))


def bootstrap(spec: dict) -> int:
    """Bring the database to the current schema and make the users exist with the given secrets.

    Secrets arrive on stdin, never as arguments (which `ps` shows) or in logs.
    """
    from argilla_server.cli.database.migrate import migrate_db
    from argilla_server.settings import settings

    migrate_db(revision="head")
    if settings.database_is_sqlite:
        import sqlite3

        path = settings.database_url.split("///", 1)[1]
        with sqlite3.connect(path) as connection:
            # WAL lets the search engine read while the server or the worker writes.
            connection.execute("PRAGMA journal_mode=WAL")
    asyncio.run(_upsert_users(spec["workspace"], spec["users"]))
    print(json.dumps({"ok": True, "users": [user["username"] for user in spec["users"]]}))
    return 0


async def _upsert_users(workspace_name: str, users: list[dict]) -> None:
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import User, UserRole, Workspace, WorkspaceUser
    from sqlalchemy import select

    async with AsyncSessionLocal() as db:
        workspace = await Workspace.get_by(db, name=workspace_name)
        if workspace is None:
            workspace = await Workspace.create(db, name=workspace_name, autocommit=False)
        for spec in users:
            user = await accounts.get_user_by_username(db, spec["username"])
            password_hash = accounts.hash_password(spec["password"])
            if user is None:
                user = await User.create(
                    db,
                    first_name=spec.get("first_name") or spec["username"],
                    username=spec["username"],
                    role=UserRole(spec["role"]),
                    password_hash=password_hash,
                    api_key=spec["api_key"],
                    autocommit=False,
                )
            else:
                # The secrets come from the environment: changing them there must take effect.
                if not accounts.verify_password(spec["password"], user.password_hash):
                    user.password_hash = password_hash
                user.api_key = spec["api_key"]
                user.role = UserRole(spec["role"])
            await db.flush()
            member = await db.execute(
                select(WorkspaceUser).where(
                    WorkspaceUser.workspace_id == workspace.id, WorkspaceUser.user_id == user.id
                )
            )
            if member.scalar_one_or_none() is None:
                db.add(WorkspaceUser(workspace_id=workspace.id, user_id=user.id))
        await db.commit()


if __name__ == "__main__":
    sys.exit(main())
