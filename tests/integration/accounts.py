"""Helpers for tests that need accounts of a given role (created with the CLI)."""
from harness import unique_email


def cli(server, *args, env=None):
    """Runs a gatehouse subcommand on the server's store (either engine)."""
    return server.cli(*args, env=env)


def account(server, role, password="role password 123"):
    """Creates an account with `role` through the CLI and logs it in."""
    email = unique_email(role)
    out = cli(server, "user", "create", "--email", email, "--role", role,
              env={"GATEHOUSE_USER_PASSWORD": password})
    assert out.returncode == 0, out.stdout + out.stderr
    tokens = server.login(email, password)
    return {"email": email, "id": tokens["user"]["id"], "token": tokens["access_token"],
            "refresh": tokens["refresh_token"]}
